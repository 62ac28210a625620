// Calls the exports of a pywasm library module from Go with wazero (docs/abi.md), on one live
// instance, as a database engine calls a UDF per row.
//
//	go run . [-max-pages N] [-timeout D] [-bench N] module.wasm calls.json
//
// -max-pages and -timeout are a database engine's limits: a memory cap for the instance, and a
// time limit for each call, past which wazero stops the call and closes the instance.
//
// With -bench N, each call is made N times after a warm-up and the output is instead one JSON
// object of export name to nanoseconds per call.
//
// calls.json is a list of [export name, argument as base64]; the output is one JSON list of
// [true, result as base64, events] or [false, error text, events], one per call, where events
// lists (as base64) what the call passed to the host function `host.emit`, which answers
// nothing. The host function `env.lookup` answers with {"len": <argument length>, "text":
// <argument as text>} as JSON, written into a buffer from the guest's pywasm_alloc. Last, the
// instance's memory in 64 KiB pages goes to stderr as `memory: N pages`.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

func pack(ptr, n uint32) uint64 { return uint64(ptr)<<32 | uint64(n) }

func unpack(packed uint64) (uint32, uint32) { return uint32(packed >> 32), uint32(packed) }

// functions caches the guest's exports: wazero's ExportedFunction builds a new call engine, with
// its own stack, every time, which costs several times a small call. This host runs one
// instance on one goroutine, and no export is called while it is already running (a host
// function calls pywasm_alloc during an export's call, never that export).
var functions = map[string]api.Function{}

// export is the guest's exported function name, or nil if there is none.
func export(mod api.Module, name string) api.Function {
	f, ok := functions[name]
	if !ok {
		f = mod.ExportedFunction(name)
		if f != nil {
			functions[name] = f
		}
	}
	return f
}

// toGuest copies data into a fresh guest buffer.
func toGuest(ctx context.Context, mod api.Module, data []byte) (uint32, uint32, error) {
	if len(data) == 0 {
		return 0, 0, nil
	}
	res, err := export(mod, "pywasm_alloc").Call(ctx, uint64(len(data)))
	if err != nil {
		return 0, 0, err
	}
	ptr := uint32(res[0])
	if ptr == 0 || !mod.Memory().Write(ptr, data) {
		return 0, 0, fmt.Errorf("pywasm_alloc(%d) failed", len(data))
	}
	return ptr, uint32(len(data)), nil
}

// fromGuest reads and frees a packed result.
func fromGuest(ctx context.Context, mod api.Module, packed uint64) ([]byte, error) {
	ptr, n := unpack(packed)
	data, ok := mod.Memory().Read(ptr, n)
	if !ok {
		return nil, fmt.Errorf("result (%d, %d) is outside memory", ptr, n)
	}
	out := append([]byte(nil), data...)
	if n > 0 {
		if _, err := export(mod, "pywasm_free").Call(ctx, uint64(ptr), uint64(n)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func lookup(ctx context.Context, mod api.Module, ptr, n uint32) uint64 {
	argument, _ := mod.Memory().Read(ptr, n)
	answer, _ := json.Marshal(map[string]any{"len": n, "text": string(argument)})
	out, size, err := toGuest(ctx, mod, answer)
	if err != nil {
		panic(err)
	}
	return pack(out, size)
}

func run() error {
	maxPages := flag.Uint("max-pages", 0, "cap the instance's memory at this many 64 KiB pages (0: wazero's default)")
	timeout := flag.Duration("timeout", 0, "stop a call that runs longer than this, closing the instance (0: no limit)")
	bench := flag.Int("bench", 0, "time each call over this many repetitions instead of printing results")
	flag.Parse()
	if flag.NArg() != 2 {
		return fmt.Errorf("usage: host [-max-pages N] module.wasm calls.json")
	}
	wasm, err := os.ReadFile(flag.Arg(0))
	if err != nil {
		return err
	}
	var calls [][2]string
	text, err := os.ReadFile(flag.Arg(1))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(text, &calls); err != nil {
		return err
	}

	ctx := context.Background()
	config := wazero.NewRuntimeConfig()
	if *maxPages > 0 {
		config = config.WithMemoryLimitPages(uint32(*maxPages))
	}
	if *timeout > 0 {
		// Compiled code checks for a cancelled context only when asked to.
		config = config.WithCloseOnContextDone(true)
	}
	r := wazero.NewRuntimeWithConfig(ctx, config)
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	_, err = r.NewHostModuleBuilder("env").
		NewFunctionBuilder().
		WithFunc(func(ctx context.Context, mod api.Module, ptr, n uint32) uint64 {
			return lookup(ctx, mod, ptr, n)
		}).
		Export("lookup").
		Instantiate(ctx)
	if err != nil {
		return err
	}
	// The events of the call running now; a module that imports no `host.emit` leaves it empty.
	var emitted []string
	_, err = r.NewHostModuleBuilder("host").
		NewFunctionBuilder().
		WithFunc(func(ctx context.Context, mod api.Module, ptr, n uint32) uint64 {
			event, ok := mod.Memory().Read(ptr, n)
			if !ok {
				panic(fmt.Sprintf("host.emit(%d, %d) is outside memory", ptr, n))
			}
			emitted = append(emitted, base64.StdEncoding.EncodeToString(event))
			return 0
		}).
		Export("emit").
		Instantiate(ctx)
	if err != nil {
		return err
	}
	compiled, err := r.CompileModule(ctx, wasm)
	if err != nil {
		return err
	}
	// A reactor: no _start; wazero calls _initialize as the start function. wazero's defaults
	// are fake clocks, sleeps that return at once and fixed random bytes (deterministic runs);
	// these give the module the system's, as other WASI hosts do.
	moduleConfig := wazero.NewModuleConfig().
		WithStartFunctions("_initialize").
		WithStdout(os.Stdout).
		WithStderr(os.Stderr).
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(rand.Reader)
	mod, err := r.InstantiateModule(ctx, compiled, moduleConfig)
	if err != nil {
		return err
	}

	if *bench > 0 {
		return benchmark(ctx, mod, calls, *bench)
	}
	results := make([][3]any, 0, len(calls))
	for _, call := range calls {
		argument, err := base64.StdEncoding.DecodeString(call[1])
		if err != nil {
			return err
		}
		callCtx, cancel := ctx, context.CancelFunc(func() {})
		if *timeout > 0 {
			callCtx, cancel = context.WithTimeout(ctx, *timeout)
		}
		emitted = []string{}
		out, ok, err := invoke(ctx, callCtx, mod, call[0], argument)
		cancel()
		if err != nil {
			return err
		}
		if ok {
			results = append(results, [3]any{true, base64.StdEncoding.EncodeToString(out), emitted})
		} else {
			results = append(results, [3]any{false, string(out), emitted})
		}
	}
	line, err := json.Marshal(results)
	if err != nil {
		return err
	}
	fmt.Println(string(line))
	// Linear memory only grows, so its size now is the high-water mark of every call.
	fmt.Fprintf(os.Stderr, "memory: %d pages\n", mod.Memory().Size()/65536)
	return nil
}

// invoke calls export name with argument and frees every buffer it involved. It returns the
// result, or with ok false the error text of the exception the function raised. Only the call
// itself runs under callCtx (a time limit), the ABI's own calls under ctx.
func invoke(ctx, callCtx context.Context, mod api.Module, name string, argument []byte) (out []byte, ok bool, err error) {
	ptr, n, err := toGuest(ctx, mod, argument)
	if err != nil {
		return nil, false, err
	}
	f := export(mod, name)
	if f == nil {
		return nil, false, fmt.Errorf("the module exports no function %q", name)
	}
	res, err := f.Call(callCtx, uint64(ptr), uint64(n))
	if err != nil {
		return nil, false, fmt.Errorf("calling %s: %w", name, err)
	}
	if n > 0 {
		if _, err := export(mod, "pywasm_free").Call(ctx, uint64(ptr), uint64(n)); err != nil {
			return nil, false, err
		}
	}
	packed := res[0]
	if int64(packed) < 0 {
		errorText, err := export(mod, "pywasm_error").Call(ctx)
		if err != nil {
			return nil, false, err
		}
		packed = errorText[0]
	}
	out, err = fromGuest(ctx, mod, packed)
	return out, int64(res[0]) >= 0, err
}

// call makes one call for the benchmark; the result is dropped, an exception is an error.
func call(ctx context.Context, mod api.Module, name string, argument []byte) error {
	_, ok, err := invoke(ctx, ctx, mod, name, argument)
	if err == nil && !ok {
		err = fmt.Errorf("%s raised", name)
	}
	return err
}

func benchmark(ctx context.Context, mod api.Module, calls [][2]string, repeat int) error {
	timings := map[string]int64{}
	for _, c := range calls {
		argument, err := base64.StdEncoding.DecodeString(c[1])
		if err != nil {
			return err
		}
		for i := 0; i < repeat/10+1; i++ {
			if err := call(ctx, mod, c[0], argument); err != nil {
				return err
			}
		}
		start := time.Now()
		for i := 0; i < repeat; i++ {
			if err := call(ctx, mod, c[0], argument); err != nil {
				return err
			}
		}
		timings[c[0]] = time.Since(start).Nanoseconds() / int64(repeat)
	}
	line, err := json.Marshal(timings)
	if err != nil {
		return err
	}
	fmt.Println(string(line))
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
