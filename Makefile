# The gates, the same locally and in CI (STYLE.md habit 20):
#   make check   formatting, vet, staticcheck, import-direction lint, generated code
#   make test    the README's test command; CI runs exactly this
# and, not part of the default run:
#   make bench       engine benchmarks and `sluice bench engine`
#   make fuzz-smoke  every Fuzz target for FUZZTIME executions each

GO        ?= go
PKGS      ?= ./...
BENCHTIME ?= 1s
# An execution count, not a duration: a wall-clock -fuzztime races Go's fuzz
# coordinator at the deadline and fails with a bare "context deadline
# exceeded" and no failing input (golang/go#75804, fixed in Go 1.27).
FUZZTIME  ?= 20000x

.PHONY: all check fmt vet staticcheck lint gen-check test bench fuzz-smoke notebooks

all: check test

check: fmt vet staticcheck lint gen-check

# gofmt -l prints the files whose formatting differs; any output fails.
fmt:
	@echo "--- gofmt -l"
	@out="$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*') </dev/null)"; \
	if [ -n "$$out" ]; then echo "gofmt: these files need formatting:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

staticcheck:
	$(GO) tool staticcheck $(PKGS)

# The import-direction and syscall-seam rules of DESIGN.md §2 (internal/lint).
lint:
	$(GO) test -count=1 ./internal/lint/

# Regenerates the protobuf code (protoc from the system, plugins pinned in
# go.mod's tool block) and fails if the committed output differs.
gen-check:
	@echo "--- gen-check"
	$(GO) generate ./broker/brokerpb
	@git diff --exit-code -- broker/brokerpb || { echo "gen-check: generated code differs from the committed code; run 'go generate ./broker/brokerpb' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- broker/brokerpb)" || { echo "gen-check: untracked generated files:"; git status --porcelain -- broker/brokerpb; exit 1; }

# Fuzz seed corpora (testdata/fuzz/...) are replayed by go test automatically.
# The checkers' tier B (linearizability/harness: clusters of processes under
# faults, ~12 minutes on 2 cores) needs more than go test's default 10 minutes.
test:
	$(GO) test -race -count=1 -timeout 45m $(PKGS)

# Executes every notebook headless against the committed results/ (Debian's
# python3-pandas, python3-matplotlib, python3-nbconvert, python3-ipykernel;
# .ci/run installs them). The executed copies go to notebooks/out/ (ignored).
notebooks:
	@mkdir -p notebooks/out
	@set -e; for nb in notebooks/*.ipynb; do \
		echo "--- $$nb"; \
		PYDEVD_DISABLE_FILE_VALIDATION=1 /usr/bin/python3 -Xfrozen_modules=off -m nbconvert --to html --execute \
			--ExecutePreprocessor.timeout=300 --output-dir notebooks/out "$$nb"; \
	done

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) ./engine/...
	$(GO) run ./cmd/sluice bench engine

# Runs every Fuzz target in the module for FUZZTIME. Targets are discovered
# with `go test -list`: its output is the names of one package followed by
# that package's "ok <pkg>" line.
fuzz-smoke:
	@set -e; \
	list="$$($(GO) test -list '^Fuzz' $(PKGS))"; \
	targets="$$(printf '%s\n' "$$list" | awk '/^Fuzz/ { names[n++] = $$1; next } /^ok/ { for (i = 0; i < n; i++) print $$2, names[i]; n = 0 }')"; \
	if [ -z "$$targets" ]; then echo "fuzz-smoke: no Fuzz targets"; exit 0; fi; \
	printf '%s\n' "$$targets" | while read -r pkg name; do \
		echo "--- fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) "$$pkg" </dev/null; \
	done
