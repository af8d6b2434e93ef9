package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
)

// ClientID names one sequential client of a run (see the package doc).
// IDs are dense from 0, as Porcupine's visualisation wants.
type ClientID int

// ValueID identifies one produced value: the client that wrote it and that
// client's sequence number. See the package doc for the layout.
type ValueID uint64

// Value layout constants. They are format: values in stored histories and
// in broker logs depend on them.
const (
	clientBits = 24
	seqBits    = 40
	// MaxClientID is the largest client id a ValueID can carry.
	MaxClientID = 1<<clientBits - 1
	// MaxSeq is the largest sequence number a ValueID can carry.
	MaxSeq = 1<<seqBits - 1

	valueMagic = "SLV1"
	// ValueOverhead is the size of an encoded value with an empty body:
	// magic, ValueID, body length and CRC.
	ValueOverhead = 4 + 8 + 4 + 4
)

// ErrNotValue is returned (wrapped) by DecodeValue for bytes that are not a
// checker value at all: too short or without the magic. A record like that
// on a checked topic was written by nobody in the run.
var ErrNotValue = errors.New("history: not a checker value")

// ErrCorruptValue is returned (wrapped) by DecodeValue for a value whose
// length or CRC-32C does not match: the bytes were damaged after the
// producer encoded them.
var ErrCorruptValue = errors.New("history: corrupt checker value")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// NewValueID returns the ValueID of client c's seq-th value. seq starts at
// 1 so that the zero ValueID means "no value". It panics on ids that do not
// fit the layout: that is a harness bug, not a condition to handle.
func NewValueID(c ClientID, seq uint64) ValueID {
	if c < 0 || c > MaxClientID || seq == 0 || seq > MaxSeq {
		panic(fmt.Sprintf("history: ValueID out of range: client %d seq %d", c, seq))
	}
	return ValueID(uint64(c)<<seqBits | seq)
}

// Client returns the client that wrote v.
func (v ValueID) Client() ClientID { return ClientID(uint64(v) >> seqBits) }

// Seq returns v's sequence number within its client.
func (v ValueID) Seq() uint64 { return uint64(v) & MaxSeq }

// String renders v as "client:seq", the form used in JSON and reports.
func (v ValueID) String() string {
	return strconv.Itoa(int(v.Client())) + ":" + strconv.FormatUint(v.Seq(), 10)
}

// MarshalText encodes v as "client:seq" (exact, unlike a JSON number above
// 2^53, and readable in history.json).
func (v ValueID) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText parses "client:seq" (and "0:0" for no value).
func (v *ValueID) UnmarshalText(b []byte) error {
	c, s, ok := strings.Cut(string(b), ":")
	if !ok {
		return fmt.Errorf("history: value id %q: want client:seq", b)
	}
	ci, err := strconv.ParseUint(c, 10, clientBits)
	if err != nil {
		return fmt.Errorf("history: value id %q: client: %w", b, err)
	}
	si, err := strconv.ParseUint(s, 10, seqBits)
	if err != nil {
		return fmt.Errorf("history: value id %q: seq: %w", b, err)
	}
	*v = ValueID(ci<<seqBits | si)
	return nil
}

// EncodeValue returns the record value for id, size bytes long (at least
// ValueOverhead). The body is derived from id, so encoding the same id
// twice gives the same bytes.
func EncodeValue(id ValueID, size int) []byte {
	n := max(size-ValueOverhead, 0)
	b := make([]byte, 0, ValueOverhead+n)
	b = append(b, valueMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(id))
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	for i := range n {
		b = append(b, byte(uint64(id)>>(8*(i%8)))^byte(i*131))
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// DecodeValue verifies an encoded value and returns its ValueID. Errors wrap
// ErrNotValue or ErrCorruptValue.
func DecodeValue(b []byte) (ValueID, error) {
	if len(b) < ValueOverhead || string(b[:4]) != valueMagic {
		return 0, fmt.Errorf("%w: %d bytes", ErrNotValue, len(b))
	}
	id := ValueID(binary.BigEndian.Uint64(b[4:12]))
	n := binary.BigEndian.Uint32(b[12:16])
	if uint64(len(b)) != uint64(ValueOverhead)+uint64(n) {
		return 0, fmt.Errorf("%w: value %v: %d bytes, the header says %d", ErrCorruptValue, id, len(b), ValueOverhead+int(n))
	}
	body := b[:len(b)-4]
	if want, got := binary.BigEndian.Uint32(b[len(b)-4:]), crc32.Checksum(body, castagnoli); want != got {
		return 0, fmt.Errorf("%w: value %v: crc32c %08x, stored %08x", ErrCorruptValue, id, got, want)
	}
	if id.Seq() == 0 {
		return 0, fmt.Errorf("%w: value id %v has sequence 0", ErrCorruptValue, id)
	}
	return id, nil
}
