package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerpb"
)

// dataConn is one fetch data-plane connection to a broker. Requests on it
// are sequential: write a request frame, read the response header frame,
// read exactly RecordsLength bytes. Any failure leaves the stream out of
// step, so the connection is closed and the next fetch dials again. A
// dataConn is used by one goroutine at a time.
type dataConn struct {
	addr     string
	conn     net.Conn
	r        *bufio.Reader
	corrID   uint32
	writeBuf []byte
	frameBuf []byte
}

// errDataPlaneUnsupported marks an answer that is not our protocol: the
// consumer falls back to gRPC for that broker.
var errDataPlaneUnsupported = errors.New("sluice: data plane not supported")

func dialData(ctx context.Context, dial func(ctx context.Context, network, addr string) (net.Conn, error), addr string) (*dataConn, error) {
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &dataConn{
		addr:     addr,
		conn:     conn,
		r:        bufio.NewReaderSize(conn, 64<<10),
		frameBuf: make([]byte, 0, brokerpb.MaxFetchResponseFrameBytes),
	}, nil
}

func (d *dataConn) close() { _ = d.conn.Close() }

// fetch runs one request. maxRecordsBytes bounds the record bytes the
// client accepts: a larger RecordsLength is an error before anything is
// allocated for it. The caller closes d after any error.
func (d *dataConn) fetch(ctx context.Context, req *brokerpb.DataFetchRequest, maxRecordsBytes int64, deadline time.Time) (brokerpb.DataFetchResponse, []byte, error) {
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	if err := d.conn.SetDeadline(deadline); err != nil {
		return brokerpb.DataFetchResponse{}, nil, err
	}
	// A cancelled ctx interrupts the blocked read by moving the deadline
	// into the past; the connection is closed afterwards anyway.
	stop := context.AfterFunc(ctx, func() { _ = d.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	d.corrID++
	req.CorrelationID = d.corrID
	d.writeBuf = brokerpb.AppendFetchRequestFrame(d.writeBuf[:0], req)
	if _, err := d.conn.Write(d.writeBuf); err != nil {
		return brokerpb.DataFetchResponse{}, nil, d.ctxErr(ctx, err)
	}
	typ, body, err := brokerpb.ReadFrame(d.r, brokerpb.MaxFetchResponseFrameBytes, d.frameBuf)
	if err != nil {
		if errors.Is(err, brokerpb.ErrFrameMagic) || errors.Is(err, brokerpb.ErrFrameVersion) {
			err = fmt.Errorf("%w: %w", errDataPlaneUnsupported, err)
		}
		return brokerpb.DataFetchResponse{}, nil, d.ctxErr(ctx, err)
	}
	if typ != brokerpb.FrameFetchResponse {
		return brokerpb.DataFetchResponse{}, nil, fmt.Errorf("%w: frame type %d, want %d", brokerpb.ErrFrameMalformed, typ, brokerpb.FrameFetchResponse)
	}
	resp, err := brokerpb.DecodeFetchResponse(body)
	if err != nil {
		return resp, nil, err
	}
	if resp.CorrelationID != req.CorrelationID {
		return resp, nil, fmt.Errorf("%w: correlation id %d, want %d", brokerpb.ErrFrameMalformed, resp.CorrelationID, req.CorrelationID)
	}
	if int64(resp.RecordsLength) > maxRecordsBytes {
		return resp, nil, fmt.Errorf("%w: response declares %d record bytes, limit %d", brokerpb.ErrFrameTooLarge, resp.RecordsLength, maxRecordsBytes)
	}
	// A fresh slice per response: the records handed to the user alias it.
	records := make([]byte, resp.RecordsLength)
	if _, err := io.ReadFull(d.r, records); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("%w: records: %w", brokerpb.ErrFrameTruncated, err)
		}
		return resp, nil, d.ctxErr(ctx, err)
	}
	return resp, records, nil
}

// ctxErr reports ctx's error instead of the I/O error it caused.
func (d *dataConn) ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}
