// Package localcluster runs a Sluice cluster as processes on loopback: one
// `sluice etcd` and N `sluice serve`, each broker in its own directory
// under one root, every process's output in a log file there. It is the
// embedded cluster `sluice bench` starts when no --brokers are given, and
// what a fault injector kills, pauses and restarts: brokers are separate
// processes from etcd, so killing any of them leaves the metadata store up.
//
// Every process listens on 127.0.0.1 with ports chosen by the kernel; a
// restarted broker gets the addresses it had, so clients and peers find it
// again. Only processes this package started are ever signalled, by PID.
package localcluster
