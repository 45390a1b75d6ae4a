package bench

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"
	"time"
)

// allocs returns the number of heap objects allocated by the process so
// far.
func allocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// rssMeter measures the peak resident set size of the process during a
// phase. On Linux it resets the kernel's high-water mark (VmHWM) through
// /proc/self/clear_refs, so the peak is exact; elsewhere, or where that
// is not allowed, it samples VmRSS every 50 ms.
type rssMeter struct {
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	sampled int64
	hwm     bool
}

func startRSS() *rssMeter {
	runtime.GC()
	debug.FreeOSMemory()
	m := &rssMeter{stop: make(chan struct{}), done: make(chan struct{})}
	m.hwm = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	go func() {
		defer close(m.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			v := procStatus("VmRSS:")
			m.mu.Lock()
			m.sampled = max(m.sampled, v)
			m.mu.Unlock()
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

// peakMB stops the meter and returns the peak in MiB.
func (m *rssMeter) peakMB() float64 {
	close(m.stop)
	<-m.done
	peak := m.sampled
	if m.hwm {
		peak = max(peak, procStatus("VmHWM:"))
	}
	return float64(peak) / 1024
}

// procStatus reads a kB field of /proc/self/status; 0 if unavailable.
func procStatus(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if rest, ok := bytes.CutPrefix(line, []byte(field)); ok {
			rest = bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte("kB")))
			v, _ := strconv.ParseInt(string(rest), 10, 64)
			return v
		}
	}
	return 0
}
