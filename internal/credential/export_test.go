package credential

// NewEntry is the entry of a credential as the cache builds it from the
// store, for tests to compare with what the cache answers.
var NewEntry = newEntry
