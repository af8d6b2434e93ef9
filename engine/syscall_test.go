package engine

import "syscall"

const syscallENOSPC = syscall.ENOSPC
