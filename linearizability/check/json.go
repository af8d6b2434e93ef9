package check

import (
	"encoding/json"
	"fmt"
	"os"
)

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("check: reading %s: %w", path, err)
	}
	return nil
}
