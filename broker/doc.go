// Package broker is the Sluice broker process: it hosts partition replicas
// (engine logs), serves the gRPC API and the zero-copy fetch data plane, and
// coordinates through etcd.
//
// Map of the package:
//
//	broker.go      Start/Stop, registration and the controller campaign
//	reconcile.go   etcd metadata -> local partitions (open, configure, delete)
//	partition.go   one partition replica: its driver goroutine, high
//	               watermark, leader epoch; the seam where replication plugs in
//	produce.go     validation, append (group commit), ack levels, receipts
//	fetch.go       long-poll fetch over gRPC (copy path)
//	dataplane.go   framed TCP fetch with sendfile (zero-copy path)
//	admin.go       topics, metadata, list offsets; controller forwarding
//	topicconfig.go per-topic settings, defaults and validation
//	errors.go      the one table from errors to gRPC status codes
//	metrics.go     Prometheus metrics (private registry), /healthz, pprof
//
// Handlers are thin: validate, call the partition, map the error. Every
// error a client sees is an *Error with a protocol code (brokerpb.ErrorCode)
// carried in a google.rpc.ErrorInfo detail, a gRPC code from one table, and
// a definite/indefinite flag: indefinite means the write may have happened.
//
// Fencing: a broker acts as leader only while its etcd session is Valid,
// which turns false before etcd can expire the lease (coord.Session), so a
// broker cut off from etcd stops acknowledging before a new leader can be
// elected.
//
// Lock order: Broker.mu, then partition.mu; neither is held across I/O.
package broker
