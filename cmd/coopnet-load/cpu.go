package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// cpuMeter reads the CPU time used so far by the node (from /proc, when
// its pid is known) and by this process. The node and the load command
// share the machine's cores, so wall-clock figures mix both; the CPU
// seconds each spent say which of them the time went to.
type cpuMeter struct {
	pid int // the node's process; 0 if unknown
}

// cpuSample is one reading.
type cpuSample struct {
	node, self time.Duration
	nodeOK     bool
}

func (m cpuMeter) sample() cpuSample {
	s := cpuSample{self: selfCPU()}
	if m.pid > 0 {
		s.node, s.nodeOK = procCPU(m.pid)
	}
	return s
}

// since formats the CPU spent between before and now as key=value pairs
// for the summary line: node_cpu only when the node's pid was given.
func (m cpuMeter) since(before cpuSample) string {
	now := m.sample()
	out := "load_cpu=" + secs(now.self-before.self)
	if now.nodeOK && before.nodeOK {
		out = "node_cpu=" + secs(now.node-before.node) + " " + out
	}
	return out
}

// nodeCPU is the node's CPU time between two samples, and whether it is
// known.
func nodeCPU(before, after cpuSample) (time.Duration, bool) {
	return after.node - before.node, before.nodeOK && after.nodeOK
}

// procCPU returns utime+stime of process pid, all threads.
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields from the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	// After the name: state is field 3, so utime (14) and stime (15) are
	// at offsets 11 and 12.
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+st) * time.Second / clockTicks, true
}

// selfCPU is this process's user+system time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
