package history

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

// Write writes h as JSON with one operation, fault or claim per line, so
// that the file can be read, grepped and diffed as text.
func (h *History) Write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	head, err := json.Marshal(struct {
		Version int       `json:"version"`
		Start   time.Time `json:"start"`
	}{h.Version, h.Start})
	if err != nil {
		return err
	}
	bw.Write(head[:len(head)-1]) // without the closing brace
	if err := writeLines(bw, "ops", h.Ops); err != nil {
		return err
	}
	if err := writeLines(bw, "faults", h.Faults); err != nil {
		return err
	}
	if err := writeLines(bw, "leader_claims", h.LeaderClaims); err != nil {
		return err
	}
	bw.WriteString("\n}\n")
	return bw.Flush()
}

// writeLines writes `,"name":[` and then the elements, one per line.
func writeLines[T any](bw *bufio.Writer, name string, elems []T) error {
	if elems == nil {
		fmt.Fprintf(bw, ",\n%q: null", name) // reads back as nil, like encoding/json
		return nil
	}
	fmt.Fprintf(bw, ",\n%q: [", name)
	for i := range elems {
		b, err := json.Marshal(&elems[i])
		if err != nil {
			return err
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n  ")
		bw.Write(b)
	}
	bw.WriteString("\n]")
	return nil
}

// ReadHistory reads a history written by Write and checks its version. It
// does not Validate: a replay may want to look at an invalid history.
func ReadHistory(r io.Reader) (*History, error) {
	var h History
	if err := json.NewDecoder(bufio.NewReader(r)).Decode(&h); err != nil {
		return nil, fmt.Errorf("history: reading history: %w", err)
	}
	if h.Version != FormatVersion {
		return nil, fmt.Errorf("history: history version %d, this build reads %d", h.Version, FormatVersion)
	}
	return &h, nil
}

// finalFile is final.json: FinalReads with a version.
type finalFile struct {
	Version int `json:"version"`
	*FinalReads
}

// Write writes f as indented JSON.
func (f *FinalReads) Write(w io.Writer) error {
	return writeJSON(w, finalFile{Version: FormatVersion, FinalReads: f})
}

// ReadFinal reads final reads written by FinalReads.Write.
func ReadFinal(r io.Reader) (*FinalReads, error) {
	ff := finalFile{FinalReads: &FinalReads{}}
	if err := json.NewDecoder(bufio.NewReader(r)).Decode(&ff); err != nil {
		return nil, fmt.Errorf("history: reading final reads: %w", err)
	}
	if ff.Version != FormatVersion {
		return nil, fmt.Errorf("history: final reads version %d, this build reads %d", ff.Version, FormatVersion)
	}
	return ff.FinalReads, nil
}

// WriteFile writes v (a *History, *FinalReads or anything JSON) to path,
// through a temporary file renamed into place so that a crash never leaves
// half a file behind.
func WriteFile(path string, v any) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	var werr error
	switch x := v.(type) {
	case *History:
		werr = x.Write(f)
	case *FinalReads:
		werr = x.Write(f)
	default:
		werr = writeJSON(f, v)
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("history: writing %s: %w", path, werr)
	}
	return os.Rename(tmp, path)
}

// ReadHistoryFile reads a history.json.
func ReadHistoryFile(path string) (*History, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadHistory(f)
}

// ReadFinalFile reads a final.json.
func ReadFinalFile(path string) (*FinalReads, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadFinal(f)
}

func writeJSON(w io.Writer, v any) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetIndent("", " ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	return bw.Flush()
}
