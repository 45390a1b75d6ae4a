//go:build unix && !linux

package credential

// adviseHugePages does nothing where madvise(MADV_HUGEPAGE) is not known.
func adviseHugePages([]byte) {}
