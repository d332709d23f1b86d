package workbook

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// spool is a temporary file of records (lists of strings) written once and read back once.
// A streamed sheet must declare its dimension before its first row, and the rows arrive as an
// iterator of unknown length, so they are spooled to disk first: memory stays flat.
type spool struct {
	file *os.File
	w    *bufio.Writer
	r    *bufio.Reader
	buf  [binary.MaxVarintLen64]byte
	fld  []byte
}

func newSpool() (*spool, error) {
	f, err := os.CreateTemp("", "credbatch-workbook-*")
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	return &spool{file: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

func (s *spool) putInt(n int) {
	k := binary.PutUvarint(s.buf[:], uint64(n))
	_, _ = s.w.Write(s.buf[:k]) // a bufio.Writer's error is sticky and reported by Flush
}

func (s *spool) putVarint(n int64) {
	k := binary.PutVarint(s.buf[:], n)
	_, _ = s.w.Write(s.buf[:k])
}

func (s *spool) putString(v string) {
	s.putInt(len(v))
	_, _ = s.w.WriteString(v)
}

// rewind ends writing and starts reading from the first record.
func (s *spool) rewind() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.r = bufio.NewReaderSize(s.file, 64<<10)
	return nil
}

func (s *spool) int() (int, error) {
	n, err := binary.ReadUvarint(s.r)
	if err != nil {
		return 0, fmt.Errorf("spool: %w", unexpected(err))
	}
	return int(n), nil
}

func (s *spool) varint() (int64, error) {
	n, err := binary.ReadVarint(s.r)
	if err != nil {
		return 0, fmt.Errorf("spool: %w", unexpected(err))
	}
	return n, nil
}

func (s *spool) string() (string, error) {
	n, err := s.int()
	if err != nil {
		return "", err
	}
	if cap(s.fld) < n {
		s.fld = make([]byte, n)
	}
	if _, err := io.ReadFull(s.r, s.fld[:n]); err != nil {
		return "", fmt.Errorf("spool: %w", unexpected(err))
	}
	return string(s.fld[:n]), nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// close removes the file.
func (s *spool) close() {
	name := s.file.Name()
	_ = s.file.Close()
	_ = os.Remove(name)
}
