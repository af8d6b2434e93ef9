// Package history is the record of one checker run: every client operation
// with its call and return time, its outcome, the fault windows the nemesis
// opened, and, after the final drain, what every replica holds. The
// checkers (models, delivery, check) read it; a harness writes it with a
// Recorder. TESTING.md §2 and reliability.md §6.0 are the rules it follows.
//
// # Time
//
// All times are Time values: nanoseconds since the Recorder's base, read
// from Go's monotonic clock, so every client in the harness process shares
// one time base and wall-clock steps cannot reorder operations. Call is
// read just before the request is issued and Return just after its answer
// is parsed; [Call, Return] is a closed interval, as in Porcupine. An
// operation that never returned (the harness stopped waiting, or the
// process died) has Outcome Unknown; its recorded Return is the time the
// client gave up, and the models treat it as returning at Infinity.
//
// # Clients
//
// A ClientID is sequential: its operations never overlap (Validate checks
// this). After an Unknown outcome the client continues under a new
// ClientID (Recorder does this), because the unknown operation may still
// take effect at any later time, and Porcupine and its visualisation need
// one client's operations to be disjoint. Worker names the harness goroutine
// behind a client and survives that change: it groups one producer's sends
// for the producer-order check.
//
// # Values
//
// Every produced value is globally unique and checks itself. A ValueID is
// the writing client and that client's sequence number (0 is "no value"):
//
//	bit 63           40 39                     0
//	    [  client id   ][     sequence (>= 1)   ]     24 + 40 bits  (format)
//
// and the record value the harness sends is (EncodeValue, DecodeValue):
//
//	offset  size  field
//	0       4     magic "SLV1"                                     (format)
//	4       8     ValueID, big endian
//	12      4     body length n, big endian
//	16      n     body: a filler derived from the ValueID, so a retry sends the same bytes
//	16+n    4     CRC-32C (Castagnoli) of bytes [0, 16+n), big endian
//
// A value whose magic, length or CRC is wrong is reported by the checkers as
// corrupt; one that decodes but was never attempted on that partition is
// unexpected. Neither relies on the broker's own batch CRCs.
//
// # Outcomes
//
// Every response is OK, Fail (provably not applied) or Unknown (may or may
// not have been applied, now or later). Classify is the one table from
// client errors to outcomes; it errs on the side of Unknown, because a
// failure wrongly called definite turns into a false "failed write visible"
// report, while a wrongly unknown one only weakens the checks a little.
//
// # Files
//
// History, FinalReads are written as JSON (history.json, final.json) with
// Write / Read; ValueIDs appear as "client:seq" strings, times as integer
// nanoseconds. The format carries a version (FormatVersion); Read refuses
// others.
package history
