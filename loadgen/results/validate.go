package results

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/sluice-mq/sluice/loadgen"
)

// RunSchema is the JSON Schema of run.json (run.schema.json), for tools
// outside Go; ValidateRunJSON applies it.
//
//go:embed run.schema.json
var RunSchema []byte

var (
	schemaOnce sync.Once
	schemaRoot map[string]any
	schemaErr  error
)

// ValidateRunJSON checks a run.json: first against RunSchema (types,
// required fields, enums, bounds), then what a schema cannot say: the
// workload must decode strictly and validate, a step has an HDR log
// exactly when it has a result, a step's driver is its result's, and a
// comparison names at least two distinct drivers, every step's among
// them. The error names the offending path, e.g.
// "run.json: machine.cpus: 0 is below the minimum 1".
func ValidateRunJSON(data []byte) error {
	schemaOnce.Do(func() {
		schemaErr = json.Unmarshal(RunSchema, &schemaRoot)
	})
	if schemaErr != nil {
		return fmt.Errorf("results: run.schema.json: %w", schemaErr) // a bug
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var doc any
	if err := d.Decode(&doc); err != nil {
		return fmt.Errorf("run.json: not JSON: %w", err)
	}
	v := validator{root: schemaRoot}
	if err := v.check(doc, schemaRoot, ""); err != nil {
		return fmt.Errorf("run.json: %w", err)
	}
	var info struct {
		Kind     string          `json:"kind"`
		Drivers  []string        `json:"drivers"`
		Workload json.RawMessage `json:"workload"`
		Steps    []StepInfo      `json:"steps"`
		Skipped  []Skipped       `json:"skipped"`
	}
	if err := json.Unmarshal(data, &info); err != nil {
		return fmt.Errorf("run.json: %w", err)
	}
	if _, err := loadgen.ParseWorkload(info.Workload); err != nil {
		return fmt.Errorf("run.json: workload: %w", err)
	}
	for i, d := range info.Drivers {
		if slices.Contains(info.Drivers[:i], d) {
			return fmt.Errorf("run.json: drivers[%d]: %q is listed twice", i, d)
		}
	}
	if info.Kind == KindCompare && len(info.Drivers) < 2 {
		return fmt.Errorf("run.json: drivers: a comparison names at least two drivers, got %q", info.Drivers)
	}
	seen := map[string]bool{}
	for i, s := range info.Steps {
		if seen[s.ID] {
			return fmt.Errorf("run.json: steps[%d].id: %q is used twice", i, s.ID)
		}
		seen[s.ID] = true
		if (s.Result == nil) != (s.HDRLog == "") {
			return fmt.Errorf("run.json: steps[%d]: a step has an hdrLog exactly when it has a result", i)
		}
		if s.Result == nil && s.Error == "" {
			return fmt.Errorf("run.json: steps[%d]: a step without a result must say why (error)", i)
		}
		if s.Result != nil && s.Driver != "" && s.Driver != s.Result.Driver {
			return fmt.Errorf("run.json: steps[%d].driver: %q, but its result is the %s driver's", i, s.Driver, s.Result.Driver)
		}
		if len(info.Drivers) > 0 && s.Driver != "" && !slices.Contains(info.Drivers, s.Driver) {
			return fmt.Errorf("run.json: steps[%d].driver: %q is not one of drivers %q", i, s.Driver, info.Drivers)
		}
	}
	if info.Kind == KindCompare {
		for i, s := range info.Steps {
			if s.Driver == "" {
				return fmt.Errorf("run.json: steps[%d]: a comparison's step must name its driver", i)
			}
		}
		for i, s := range info.Skipped {
			if !slices.Contains(info.Drivers, s.Driver) {
				return fmt.Errorf("run.json: skipped[%d].driver: %q is not one of drivers %q", i, s.Driver, info.Drivers)
			}
		}
	}
	return nil
}

// validator implements the JSON Schema keywords run.schema.json uses.
type validator struct{ root map[string]any }

func (v validator) check(val any, schema map[string]any, path string) error {
	at := func(format string, args ...any) error {
		p := path
		if p == "" {
			p = "(top level)"
		}
		return fmt.Errorf("%s: %s", p, fmt.Sprintf(format, args...))
	}
	if ref, ok := schema["$ref"].(string); ok {
		target, err := v.resolve(ref)
		if err != nil {
			return at("%v", err)
		}
		return v.check(val, target, path)
	}
	if c, ok := schema["const"]; ok && !sameJSON(val, c) {
		return at("%s, want %s", show(val), show(c))
	}
	if e, ok := schema["enum"].([]any); ok && !slices.ContainsFunc(e, func(x any) bool { return sameJSON(val, x) }) {
		return at("%s is not one of %s", show(val), show(e))
	}
	if t, ok := schema["type"]; ok {
		var types []string
		switch t := t.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				types = append(types, x.(string))
			}
		}
		if !slices.ContainsFunc(types, func(tn string) bool { return hasType(val, tn) }) {
			return at("%s is not of type %s", show(val), strings.Join(types, " or "))
		}
	}
	switch x := val.(type) {
	case map[string]any:
		return v.checkObject(x, schema, path, at)
	case []any:
		if items, ok := schema["items"].(map[string]any); ok {
			for i, e := range x {
				if err := v.check(e, items, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	case string:
		if n, ok := number(schema["minLength"]); ok && float64(len(x)) < n {
			return at("%q is shorter than %v", x, n)
		}
		if p, ok := schema["pattern"].(string); ok {
			re, err := regexp.Compile(p)
			if err != nil {
				return at("bad pattern %q in the schema: %v", p, err)
			}
			if !re.MatchString(x) {
				return at("%q does not match %s", x, p)
			}
		}
	case json.Number:
		f, _ := x.Float64()
		if n, ok := number(schema["minimum"]); ok && f < n {
			return at("%s is below the minimum %v", x, n)
		}
		if n, ok := number(schema["maximum"]); ok && f > n {
			return at("%s is above the maximum %v", x, n)
		}
	}
	return nil
}

func (v validator) checkObject(obj map[string]any, schema map[string]any, path string, at func(string, ...any) error) error {
	if req, ok := schema["required"].([]any); ok {
		for _, r := range req {
			if _, ok := obj[r.(string)]; !ok {
				return at("missing required field %q", r)
			}
		}
	}
	props, _ := schema["properties"].(map[string]any)
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sub, ok := props[k].(map[string]any)
		if !ok {
			if ap, ok := schema["additionalProperties"].(bool); ok && !ap {
				return at("unknown field %q", k)
			}
			continue
		}
		p := k
		if path != "" {
			p = path + "." + k
		}
		if err := v.check(obj[k], sub, p); err != nil {
			return err
		}
	}
	return nil
}

// resolve follows a local reference such as #/$defs/latency.
func (v validator) resolve(ref string) (map[string]any, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("unsupported $ref %q", ref)
	}
	var cur any = v.root
	for _, part := range strings.Split(ref[2:], "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("bad $ref %q", ref)
		}
		cur = m[part]
	}
	m, ok := cur.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("bad $ref %q", ref)
	}
	return m, nil
}

func hasType(val any, t string) bool {
	switch t {
	case "object":
		_, ok := val.(map[string]any)
		return ok
	case "array":
		_, ok := val.([]any)
		return ok
	case "string":
		_, ok := val.(string)
		return ok
	case "boolean":
		_, ok := val.(bool)
		return ok
	case "null":
		return val == nil
	case "number":
		_, ok := val.(json.Number)
		return ok
	case "integer":
		n, ok := val.(json.Number)
		if !ok {
			return false
		}
		f, err := n.Float64()
		return err == nil && f == math.Trunc(f)
	}
	return false
}

func number(v any) (float64, bool) {
	f, ok := v.(float64)
	return f, ok
}

func sameJSON(a, b any) bool {
	if n, ok := a.(json.Number); ok {
		f, err := n.Float64()
		bf, ok := b.(float64)
		return err == nil && ok && f == bf
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}
