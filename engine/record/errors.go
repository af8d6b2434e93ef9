package record

import (
	"errors"
	"fmt"
)

// Errors returned by this package. Returned errors wrap one of these with the
// offending field and value, so test with errors.Is.
//
// The split between ErrCorrupt and ErrTruncated matters to log recovery: a
// batch that is merely short is what a crash mid-append leaves at the tail of
// a segment and can be cut off, whereas a batch whose bytes are all present but
// wrong is damage that must not be silently discarded.
var (
	// ErrCorrupt is the root of every "the bytes are present but wrong"
	// error: ErrChecksum, ErrBadMagic, ErrBadLength and ErrMalformed all
	// satisfy errors.Is(err, ErrCorrupt).
	ErrCorrupt = errors.New("record: corrupt batch")

	// ErrChecksum is returned by Verify, Decode and ForEachRecord when the
	// CRC-32C stored in the header does not match the batch contents.
	ErrChecksum = fmt.Errorf("%w: checksum mismatch", ErrCorrupt)

	// ErrBadMagic is returned when the magic byte is not Magic (2), i.e. the
	// bytes are not a v2 record batch (or are an older message set).
	ErrBadMagic = fmt.Errorf("%w: bad magic", ErrCorrupt)

	// ErrBadLength is returned when the declared batchLength is smaller than
	// the fixed header or would make the batch larger than MaxBatchSize.
	ErrBadLength = fmt.Errorf("%w: bad batch length", ErrCorrupt)

	// ErrMalformed is returned by Decode and ForEachRecord when the records
	// section does not parse: a varint that is overlong, out of range or
	// runs past its record, a length that exceeds the remaining bytes, a
	// record count that does not match the header, or leftover bytes.
	ErrMalformed = fmt.Errorf("%w: malformed records", ErrCorrupt)

	// ErrTruncated is returned when the input is shorter than the fixed
	// header or than the batch size its header declares. It deliberately
	// does not wrap ErrCorrupt: a torn write at the tail of a log looks
	// exactly like this, and the caller may choose to truncate it away.
	ErrTruncated = errors.New("record: truncated batch")

	// ErrUnsupportedCompression is returned by Decode and ForEachRecord for
	// a batch whose attributes name any compression codec: this package
	// does not decompress. The header and CRC have been verified by then,
	// so the batch itself is intact and may still be stored or forwarded.
	ErrUnsupportedCompression = errors.New("record: unsupported compression")
)

// malformed wraps ErrMalformed with detail.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}
