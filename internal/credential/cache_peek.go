package credential

// Peek returns the entry for clientID when this instance holds it in
// memory (among the entries used lately, or in the table once Load has
// run), without reading the store and without admitting it to the entries
// used lately. It serves paths that must not cost a database read, such as
// counting a refusal against a credential.
func (c *Cache) Peek(clientID string) (*Entry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e, ok := c.entries[clientID]; ok {
		return e, true
	}
	if c.table != nil {
		return c.table.get(clientID)
	}
	return nil, false
}
