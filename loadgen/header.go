package loadgen

import (
	"encoding/binary"
	"errors"
)

// The payload header: the first HeaderSize bytes of every message value the
// load generator sends (big-endian; the layout is format, see doc.go):
//
//	0      4        8                16         20               28
//	+------+--------+----------------+----------+----------------+---------
//	|magic | run id | intended send  | producer | sequence       | filler…
//	|"SLG1"|        | time, Unix ns  | id       | (per producer) |
//	+------+--------+----------------+----------+----------------+---------
//
// The intended send time lets a consumer measure end-to-end latency from
// the moment the message was due (not from when it was actually sent, which
// would hide a stalled producer); producer id and sequence let it count
// duplicates and messages that never arrived; the run id makes messages of
// another run (a reused topic) recognisable.
const (
	HeaderSize  = 28         // format
	headerMagic = 0x534c4731 // "SLG1", format
)

// Header is the decoded payload header.
type Header struct {
	RunID    uint32
	Intended int64 // Unix nanoseconds
	Producer uint32
	Seq      uint64
}

// ErrNotLoadgen is returned by DecodeHeader for a value that does not start
// with a load-generator header.
var ErrNotLoadgen = errors.New("loadgen: value has no load-generator header")

// PutHeader writes h into the first HeaderSize bytes of b.
func PutHeader(b []byte, h Header) {
	_ = b[HeaderSize-1]
	binary.BigEndian.PutUint32(b[0:], headerMagic)
	binary.BigEndian.PutUint32(b[4:], h.RunID)
	binary.BigEndian.PutUint64(b[8:], uint64(h.Intended))
	binary.BigEndian.PutUint32(b[16:], h.Producer)
	binary.BigEndian.PutUint64(b[20:], h.Seq)
}

// DecodeHeader reads the header at the start of b.
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize || binary.BigEndian.Uint32(b) != headerMagic {
		return Header{}, ErrNotLoadgen
	}
	return Header{
		RunID:    binary.BigEndian.Uint32(b[4:]),
		Intended: int64(binary.BigEndian.Uint64(b[8:])),
		Producer: binary.BigEndian.Uint32(b[16:]),
		Seq:      binary.BigEndian.Uint64(b[20:]),
	}, nil
}
