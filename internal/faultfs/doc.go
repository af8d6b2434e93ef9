// Package faultfs is the file layer of the checkers' disk faults for real
// broker processes (TESTING.md §4): compiled in only under the build tag
// faultfs and switched on by the environment variable SLUICE_FAULT_FS, a
// comma-separated list of
//
//	volatile   unsynced writes live in process memory (vfs.Volatile), so
//	           kill -9 drops them: a power loss of that broker (F8)
//	space      SIGUSR1 fills the disk (every later write fails with ENOSPC),
//	           SIGUSR2 frees it (F6)
//
// A normal build refuses to start a broker with SLUICE_FAULT_FS set rather
// than silently run without the fault a test asked for.
package faultfs

// EnvVar names the environment variable that selects the faults.
const EnvVar = "SLUICE_FAULT_FS"
