package nodes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	// compose-go's YAML module (v2.16.2 requires this version), so that
	// plumb links one YAML library, not two.
	"go.yaml.in/yaml/v4"
)

// yamlToJSON converts one YAML document to JSON (its errors are predicates,
// for "FILE has ..."): mappings become objects
// (their keys must be scalars), sequences arrays, a plain null null, and every
// other scalar a string, whatever YAML would resolve it to: every field a
// node list holds is a string, so `name: 007` stays "007". Aliases are
// followed, within a budget that stops a billion laughs.
func yamlToJSON(data []byte) ([]byte, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, errors.New("holds no YAML document")
		}
		return nil, yamlError(err)
	}
	var more yaml.Node
	switch err := dec.Decode(&more); {
	case err == nil:
		return nil, errors.New("holds more than one YAML document")
	case err != io.EOF:
		return nil, yamlError(err)
	}
	c := converter{budget: 64*len(data) + 1024, open: map[*yaml.Node]bool{}}
	if err := c.node(&doc); err != nil {
		return nil, err
	}
	return c.out.Bytes(), nil
}

func yamlError(err error) error {
	return fmt.Errorf("is not valid YAML (%s)", strings.TrimPrefix(err.Error(), "yaml: "))
}

type converter struct {
	out    bytes.Buffer
	budget int                 // nodes left to write
	open   map[*yaml.Node]bool // aliases being followed, to refuse a cycle
}

func (c *converter) node(n *yaml.Node) error {
	if c.budget--; c.budget < 0 {
		return errors.New("has aliases that expand too far")
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return errors.New("holds no YAML document")
		}
		return c.node(n.Content[0])
	case yaml.AliasNode:
		if n.Alias == nil || c.open[n] {
			return fmt.Errorf("has an alias, *%s, that refers to itself (line %d)", n.Value, n.Line)
		}
		c.open[n] = true
		defer delete(c.open, n)
		return c.node(n.Alias)
	case yaml.SequenceNode:
		c.out.WriteByte('[')
		for i, e := range n.Content {
			if i > 0 {
				c.out.WriteByte(',')
			}
			if err := c.node(e); err != nil {
				return err
			}
		}
		c.out.WriteByte(']')
		return nil
	case yaml.MappingNode:
		c.out.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			for k.Kind == yaml.AliasNode && k.Alias != nil && !c.open[k] {
				k = k.Alias
			}
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("has a mapping key that is not a scalar (line %d)", n.Content[i].Line)
			}
			if i > 0 {
				c.out.WriteByte(',')
			}
			c.str(k.Value)
			c.out.WriteByte(':')
			if err := c.node(n.Content[i+1]); err != nil {
				return err
			}
		}
		c.out.WriteByte('}')
		return nil
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			c.out.WriteString("null")
		} else {
			c.str(n.Value)
		}
		return nil
	}
	return fmt.Errorf("has a YAML node of an unknown kind (line %d)", n.Line)
}

func (c *converter) str(s string) {
	b, _ := json.Marshal(s) // a string always marshals
	c.out.Write(b)
}
