package credential

// Peek returns the entry for clientID when this instance holds it in
// memory, without reading the store. It serves paths that must not cost a
// database read, such as counting a refusal against a credential.
func (c *Cache) Peek(clientID string) (*Entry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.rows.get(clientID, nil)
}
