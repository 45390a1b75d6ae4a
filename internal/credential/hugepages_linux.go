package credential

import "syscall"

// adviseHugePages asks the kernel to back b with huge pages where it can
// (transparent huge pages set to "always" or "madvise"). It is advice: if
// the kernel declines, b works as before.
func adviseHugePages(b []byte) { syscall.Madvise(b, syscall.MADV_HUGEPAGE) }
