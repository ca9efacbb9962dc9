package unpack

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
)

// stream reads the layer and hashes it on a goroutine of its own, a chunk
// ahead of the unpacking: hashing costs about as much as writing the files
// and no longer adds to it. Every byte is hashed once, in order, as it is
// read: one pass.
type stream struct {
	full chan chunk  // read and hashed, for the unpacker
	free chan []byte // consumed, for the reader
	stop chan struct{}
	done chan struct{} // closed when the reader goroutine has ended

	cur chunk // the chunk being consumed
	off int
	pos int64  // bytes consumed by Read
	n   int64  // set when done is closed: bytes read
	sum string // and their digest, once all were read

	max   int64             // Options.MaxBytes
	count func(int64) error // Options.Count
}

type chunk struct {
	b   []byte
	err error
}

const (
	chunkSize = 512 << 10
	chunks    = 8
)

func newStream(r io.Reader, opts Options) *stream {
	s := &stream{
		max:   opts.MaxBytes,
		count: opts.Count,
		full:  make(chan chunk, chunks),
		free:  make(chan []byte, chunks),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	for range chunks {
		s.free <- make([]byte, chunkSize)
	}
	go s.read(r)
	return s
}

func (s *stream) read(r io.Reader) {
	defer close(s.done)
	h := sha256.New()
	for {
		var b []byte
		select {
		case b = <-s.free:
		case <-s.stop:
			return
		}
		n, err := io.ReadFull(r, b)
		h.Write(b[:n])
		s.n += int64(n)
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		if s.max > 0 && s.n > s.max {
			err = fmt.Errorf("%w: the layer's stream is more than %d bytes", ErrTooLarge, s.max)
		} else if s.count != nil && n > 0 {
			if cerr := s.count(int64(n)); cerr != nil {
				err = cerr
			}
		}
		if err == io.EOF {
			s.sum = "sha256:" + hex.EncodeToString(h.Sum(nil))
		}
		select {
		case s.full <- chunk{b[:n], err}:
		case <-s.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

// Read serves the chunks in order.
func (s *stream) Read(p []byte) (int, error) {
	for s.off == len(s.cur.b) {
		if s.cur.err != nil {
			return 0, s.cur.err
		}
		if s.cur.b != nil {
			s.free <- s.cur.b[:cap(s.cur.b)]
		}
		s.cur, s.off = <-s.full, 0
	}
	n := copy(p, s.cur.b[s.off:])
	s.off += n
	s.pos += int64(n)
	return n, nil
}

// finish reads what is left of the stream (padding after the tar's end is
// part of the digest too) and returns the length and digest of it all.
// More than trailer bytes after the tar's end (when above 0) is an error
// (ErrTrailer): a tar writer pads to its record size, a few KB at most,
// and a stream that goes on is made to keep the reader busy.
func (s *stream) finish(trailer int64) (int64, string, error) {
	end := s.pos
	for {
		s.pos += int64(len(s.cur.b) - s.off)
		s.off = len(s.cur.b)
		if trailer > 0 && s.pos-end > trailer {
			return s.pos, "", fmt.Errorf("%w: more than %d bytes follow the tar's end-of-archive marker", ErrTrailer, trailer)
		}
		if _, err := s.Read(nil); err != nil {
			<-s.done
			if err != io.EOF {
				return s.n, "", err
			}
			return s.n, s.sum, nil
		}
	}
}

// close stops the reader goroutine and waits for it to end: when Apply
// returns, nothing reads r any more.
func (s *stream) close() {
	close(s.stop)
	<-s.done
}
