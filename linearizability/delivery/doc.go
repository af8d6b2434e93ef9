// Package delivery holds the set and order checkers of TESTING.md §3
// (reliability.md §6.3, after Jepsen's queue, set and Kafka checkers and
// NATS's lost-on-node): properties of the whole run's multisets, which
// linearizability does not express.
//
// Per topic-partition, with A the attempted values, K the acknowledged
// ones, D the multiset delivered to a consumer group, L the final log and
// L_n replica n's log:
//
//	nothing invented            set(D), set(L) ⊆ A            Unexpected, CorruptValue, FailedWriteVisible
//	acknowledged durability     K ⊆ set(L)                    LostWrite (with where: on some replica, or none)
//	committed stays committed   seen by a reader ⇒ in L       CommittedVanished
//	at-least-once               set(L) up to the group's reach ⊆ set(D)   DeliveryLoss, Unseen (the tail)
//	at-most-once                every value once in D         DeliveryDuplicate
//	idempotent producer         no value at two offsets       Duplicate
//	producer order              a worker's sends get increasing offsets   NonmonotonicSend
//	no poll skip                a consumer's next record follows its last in L   PollSkip, NonmonotonicPoll
//	offsets agree               one value per offset everywhere           InconsistentOffset
//	dense offsets               no holes in L below the HWM               OffsetGap
//	replicas agree              L_n = L below the final HWM               ReplicaDivergence
//	committed offsets monotone  per (group, partition), in real time      OffsetRegression
//	one leader per epoch        leader claims of the brokers              SplitBrain
//
// A group is checked on the partitions it was assigned or polled, from the
// log start: its consumers are expected to start at the earliest offset
// (AutoOffsetReset earliest), as the final drain does.
//
// "Everywhere" is every sighting of a value at an offset: acknowledged
// sends, OK reads, scans and polls, L, and every replica below the final
// high watermark. Check reports every anomaly it finds, each with values,
// offsets, operations, times and the fault windows open meanwhile; whether
// the scenario allows it is package expect's question.
package delivery
