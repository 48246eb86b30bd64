# Convenience targets; each is a plain Go command, so make is optional.
.PHONY: run test generate bench bench-invoices

run:
	go run ./cmd/books serve --demo

test:
	go run ./cmd/verify

generate:
	go generate ./...

bench:
	go run ./cmd/books bench je

bench-invoices:
	go run ./cmd/books bench invoices
