// goyaml-oracle: what kubectl reads from each YAML file given on the command line.
//
// It splits a stream into documents as apimachinery's YAMLReader does (a line starting with
// `---` ends a document; anything but blanks or a comment after `---` is an error), then
// decodes each document as kubectl does (sigs.k8s.io/yaml's YAMLToJSON over go-yaml v2), and
// also strictly (duplicate keys refused, as the API server's strict field validation does).
//
// Output, one line per document: file, index, a verdict and what goes with it:
//   ok         the JSON kubectl reads (keys sorted)
//   duplicate  the same, but strict decoding refuses a repeated key (kubectl keeps the last)
//   empty      nothing but blanks or comments (kubectl skips it)
//   error      go-yaml's (or the JSON conversion's) message
//   separator-error  apimachinery refuses the line after `---`; the stream stops there
//
// Build and run with Debian's packages (golang-go golang-gopkg-yaml.v2-dev
// golang-k8s-sigs-yaml-dev), no network:
//   GO111MODULE=off GOPATH=/usr/share/gocode go run scripts/goyaml-oracle/main.go FILE...
// scripts/goyaml-oracle/regenerate writes fixtures/goyaml/expect.tsv with it.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// documents splits like apimachinery's YAMLReader.Read (util/yaml/decoder.go).
func documents(data []byte) ([][]byte, error) {
	var docs [][]byte
	var buffer bytes.Buffer
	reader := bufio.NewReader(bytes.NewReader(data))
	for {
		line, err := readLine(reader)
		if i := bytes.Index(line, []byte("---")); i == 0 {
			trimmed := strings.TrimSpace(string(line[3:]))
			if len(trimmed) > 0 && trimmed[0] != '#' {
				return docs, fmt.Errorf("invalid Yaml document separator: %s", trimmed)
			}
			if buffer.Len() != 0 {
				docs = append(docs, append([]byte(nil), buffer.Bytes()...))
				buffer.Reset()
			}
			if err != nil {
				return docs, nil
			}
			continue
		}
		if err != nil {
			if buffer.Len() != 0 {
				docs = append(docs, append([]byte(nil), buffer.Bytes()...))
			}
			return docs, nil
		}
		buffer.Write(line)
	}
}

// readLine is apimachinery's LineReader.Read: a line with '\n' appended (also at EOF).
func readLine(r *bufio.Reader) ([]byte, error) {
	var buffer bytes.Buffer
	isPrefix := true
	var err error
	var line []byte
	for isPrefix && err == nil {
		line, isPrefix, err = r.ReadLine()
		buffer.Write(line)
	}
	buffer.WriteByte('\n')
	return buffer.Bytes(), err
}

func clean(s string) string {
	return strings.NewReplacer("\t", "\\t", "\n", "\\n", "\r", "\\r").Replace(s)
}

func main() {
	for _, path := range os.Args[1:] {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		name := filepath.Base(path)
		docs, sepErr := documents(data)
		for i, doc := range docs {
			js, err := yaml.YAMLToJSON(doc)
			switch {
			case err != nil:
				fmt.Printf("%s\t%d\terror\t%s\n", name, i, clean(err.Error()))
			case string(js) == "null":
				fmt.Printf("%s\t%d\tempty\t\n", name, i)
			default:
				verdict := "ok"
				if _, strictErr := yaml.YAMLToJSONStrict(doc); strictErr != nil {
					verdict = "duplicate"
				}
				fmt.Printf("%s\t%d\t%s\t%s\n", name, i, verdict, clean(string(js)))
			}
		}
		if sepErr != nil {
			fmt.Printf("%s\t%d\tseparator-error\t%s\n", name, len(docs), clean(sepErr.Error()))
		}
	}
}
