package view

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/template"

	"plumb/plan"
)

// A Document is one object shown whole (inspect, image inspect): a JSON
// document in docker inspect's terms, with a text form of its own.
type Document interface {
	WriteText(w io.Writer) error
}

// Print writes doc as a Go template over its JSON (format, as docker
// inspect -f) when format is given, else in out's form.
func Print(w io.Writer, doc Document, out Output, format string) error {
	switch {
	case format != "":
		return Template(w, format, doc)
	case out == JSON:
		return WriteJSON(w, doc)
	}
	return doc.WriteText(w)
}

// templateFuncs are the template functions docker inspect -f offers that
// plumb's documents can use.
var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		err := enc.Encode(v)
		return strings.TrimSuffix(b.String(), "\n"), err
	},
	"join": func(v []any, sep string) string {
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = fmt.Sprint(x)
		}
		return strings.Join(parts, sep)
	},
	"split": strings.Split,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"title": func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
}

// Template runs a Go template over the JSON document of v, as `docker
// inspect -f` does over its own: field names are the JSON's, so the
// document's own command (`{{range .NetworkSettings.Networks}}
// {{.IPAddress}}{{end}}`) works as it is. A newline follows, as docker's.
func Template(w io.Writer, format string, v any) error {
	tmpl, err := template.New("format").Funcs(templateFuncs).Option("missingkey=error").Parse(format)
	if err != nil {
		return &plan.Refused{Flag: "format", Msg: err.Error()}
	}
	var doc bytes.Buffer
	if err := WriteJSON(&doc, v); err != nil {
		return err
	}
	var data any
	dec := json.NewDecoder(&doc)
	dec.UseNumber() // 24, not 24.000000
	if err := dec.Decode(&data); err != nil {
		return err
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, data); err != nil {
		return &plan.Refused{Flag: "format", Msg: err.Error()}
	}
	out.WriteByte('\n')
	_, err = w.Write(out.Bytes())
	return err
}
