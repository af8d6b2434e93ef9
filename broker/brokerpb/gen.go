package brokerpb

// Generation uses protoc from the system (Debian's protobuf-compiler) and the
// plugins pinned in go.mod's tool block, so every machine generates the same
// bytes. `make gen-check` regenerates and fails on any difference.
//go:generate sh -c "protoc --plugin=protoc-gen-go=$(go tool -n protoc-gen-go) --plugin=protoc-gen-go-grpc=$(go tool -n protoc-gen-go-grpc) --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative sluice.proto"
