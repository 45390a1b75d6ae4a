package credential

// SetHotMax changes how many entries c keeps ready to use, so that tests
// can make it evict.
func SetHotMax(c *Cache, n int) { c.hotMax = n }

// HotLen reports how many entries c keeps ready to use.
func HotLen(c *Cache) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// DropHot forgets every entry c keeps ready to use, as if all had been
// evicted: what c knows then is in its table, if it has one.
func DropHot(c *Cache) {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}
