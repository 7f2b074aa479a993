// kstatus prints what sigs.k8s.io/cli-utils/pkg/kstatus/status (the library
// Flux's health checks use) computes for each object read from stdin: a JSON
// object, a JSON List, or a stream of YAML or JSON documents. One JSON line per
// object: {"kind", "name", "status", "message"}.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type verdict struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	decoder := yaml.NewYAMLOrJSONDecoder(bufio.NewReader(in), 4096)
	encoder := json.NewEncoder(out)
	for {
		var raw json.RawMessage
		if err := decoder.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		// As a client reading the API would: whole numbers become int64, which
		// the library's generation checks insist on.
		var doc map[string]interface{}
		if err := utiljson.Unmarshal(raw, &doc); err != nil {
			return err
		}
		if doc == nil {
			continue
		}
		objects := []map[string]interface{}{doc}
		if items, ok := doc["items"].([]interface{}); ok {
			objects = objects[:0]
			for _, item := range items {
				if obj, ok := item.(map[string]interface{}); ok {
					objects = append(objects, obj)
				}
			}
		}
		for _, obj := range objects {
			u := &unstructured.Unstructured{Object: obj}
			result, err := status.Compute(u)
			if err != nil {
				return fmt.Errorf("%s/%s: %w", u.GetKind(), u.GetName(), err)
			}
			if err := encoder.Encode(verdict{u.GetKind(), u.GetName(), string(result.Status), result.Message}); err != nil {
				return err
			}
		}
	}
}
