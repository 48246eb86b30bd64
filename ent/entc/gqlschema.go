package main

import (
	"fmt"
	"sort"
	"strings"
	"unicode"

	"entgo.io/ent/entc/gen"
	"github.com/vektah/gqlparser/v2/ast"

	"books/ent/schema"
	"books/graph/filterkey"
)

// conventionHook brings the schema entgql generates to the API's convention
// (docs/api-conventions.md) before it is written:
//   - identifiers end in Id, not ID (entityId, entityIdIn, lineIds);
//   - enum values are UPPER_SNAKE, each bound with @goEnum to the stored value's Go constant,
//     so the database keeps its values and the API shows the convention's;
//   - ent's update inputs become XxxPatch, so the mutation input UpdateXxxInput can carry the
//     id and the patch;
//   - every type, field and enum value has a description: the ent schema's comments, or one
//     derived from a filter's predicate. Generation fails when one is missing.
func conventionHook(g *gen.Graph, s *ast.Schema) error {
	consts, err := enumConstants(g)
	if err != nil {
		return err
	}
	s.Directives["goEnum"] = &ast.DirectiveDefinition{
		Name:        "goEnum",
		Description: "gqlgen: the Go constant an enum value maps to.",
		Arguments:   ast.ArgumentDefinitionList{{Name: "value", Type: ast.NamedType("String", nil)}},
		Locations:   []ast.DirectiveLocation{ast.LocationEnumValue},
	}
	typeDocs := typeComments(g)
	edgeDocs := edgeComments(g)
	// Names first, so that the descriptions below can look fields up by their final names.
	for _, def := range s.Types {
		for _, f := range def.Fields {
			f.Name = idCase(f.Name)
			for _, a := range f.Arguments {
				a.Name = idCase(a.Name)
			}
			idType(def, f)
		}
	}
	for _, name := range sortedTypes(s) {
		def := s.Types[name]
		switch def.Kind {
		case ast.Enum:
			if err := conventionalEnum(def, consts); err != nil {
				return err
			}
		case ast.Object:
			if def.Description == "" {
				def.Description = typeDocs[def.Name]
			}
			// entgql drops the comment of an edge it turns into a connection.
			for _, f := range def.Fields {
				if f.Description == "" {
					f.Description = edgeDocs[def.Name+"."+f.Name]
				}
			}
			if def.Name == "Query" {
				def.Description = "Everything a caller can read, always within their own organization."
				describeQueryFields(def)
			}
		case ast.InputObject:
			switch {
			case strings.HasSuffix(name, "WhereInput"):
				describeWhereInput(def, s.Types[strings.TrimSuffix(name, "WhereInput")])
			case strings.HasPrefix(name, "Update") && strings.HasSuffix(name, "Input"):
				node := strings.TrimSuffix(strings.TrimPrefix(name, "Update"), "Input")
				delete(s.Types, name)
				def.Name = node + "Patch"
				def.Description = fmt.Sprintf("New values for the %s; a field left out keeps its value, and clearXxx: true empties an optional one.", node)
				def.Directives = append(def.Directives, goModelDirective("books/ent."+name))
				s.Types[def.Name] = def
			case strings.HasPrefix(name, "Create") && strings.HasSuffix(name, "Input"):
				node := strings.TrimSuffix(strings.TrimPrefix(name, "Create"), "Input")
				def.Description = fmt.Sprintf("The values of a new %s.", node)
			}
			describeMutationInput(def, s)
		}
	}
	if missing := undocumented(s); len(missing) > 0 {
		return fmt.Errorf("%d parts of the generated GraphQL schema have no description (add a Comment in ent/schema or a doc in schema.GraphQLEnumDocs):\n  %s",
			len(missing), strings.Join(missing, "\n  "))
	}
	return nil
}

func sortedTypes(s *ast.Schema) []string {
	names := make([]string, 0, len(s.Types))
	for n := range s.Types {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// idCase spells an identifier's ID acronym Id where it ends a word: entityID → entityId,
// entityIDNEQ → entityIdNEQ, lineIDs → lineIds. A bare "id" is left alone.
func idCase(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if i > 0 && strings.HasPrefix(name[i:], "ID") && unicode.IsLower(rune(name[i-1])) {
			rest := name[i+2:]
			rest = strings.TrimPrefix(rest, "s")
			if rest == "" || unicode.IsUpper(rune(rest[0])) {
				b.WriteString("Id")
				i++
				continue
			}
		}
		b.WriteByte(name[i])
	}
	return b.String()
}

// externalIDs are references into other systems' records, which stay strings.
var externalIDs = map[string]bool{"hubCompanyId": true, "crmContactId": true, "requestId": true}

// idType types a Books id held in a String field as ID, as every id of the API is: on
// objects, in mutation inputs, and in a filter's equality predicates.
func idType(def *ast.Definition, f *ast.FieldDefinition) {
	if def.Kind == ast.InputObject && strings.HasSuffix(def.Name, "WhereInput") {
		name := f.Name
		for _, op := range []string{"NEQ", "NotIn", "In"} {
			name = strings.TrimSuffix(name, op)
		}
		if !strings.HasSuffix(name, "Id") || externalIDs[name] {
			return
		}
	} else if !(strings.HasSuffix(f.Name, "Id") || strings.HasSuffix(f.Name, "Ids")) || externalIDs[f.Name] {
		return
	}
	for t := f.Type; t != nil; t = t.Elem {
		if t.NamedType == "String" {
			t.NamedType = "ID"
		}
	}
}

// upperSnake turns a stored enum value (partially_paid, hub_billing) into its API name.
func upperSnake(v string) string {
	return strings.ToUpper(strings.ReplaceAll(v, "-", "_"))
}

// goTypeEnums are the enums whose Go type is written by hand (ent's GoType), with no
// constants generated by ent: their values' constants are named here.
var goTypeEnums = map[string]map[string]string{
	"books/internal/ledger/source.System": {
		"books": "Books", "psa": "PSA", "ams": "AMS", "chms": "CHMS", "import": "Import",
		"autotask": "Autotask", "stripe": "Stripe", "hub_billing": "HubBilling",
	},
	"books/internal/qbo/syncstate.Status": {
		"not_synced": "NotSynced", "pending": "Pending", "synced": "Synced", "error": "Error",
	},
}

// enumConstants maps each enum Go type ("books/ent/invoice.Status") to its stored values'
// constants ("partially_paid" → "books/ent/invoice.StatusPartiallyPaid").
func enumConstants(g *gen.Graph) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for model, values := range goTypeEnums {
		pkg := model[:strings.LastIndexByte(model, '.')]
		m := map[string]string{}
		for v, c := range values {
			m[v] = pkg + "." + c
		}
		out[model] = m
	}
	for _, n := range g.Nodes {
		for _, f := range n.Fields {
			if !f.IsEnum() || f.HasGoType() {
				continue
			}
			model := fmt.Sprintf("%s/%s.%s", g.Config.Package, n.PackageDir(), f.StructField())
			m := map[string]string{}
			for _, e := range f.Enums {
				m[e.Value] = fmt.Sprintf("%s/%s.%s", g.Config.Package, n.PackageDir(), e.Name)
			}
			out[model] = m
		}
	}
	return out, nil
}

// conventionalEnum renames a stored enum's values to UPPER_SNAKE and binds each to its Go
// constant; every value, stored or an order field, gets its description.
func conventionalEnum(def *ast.Definition, consts map[string]map[string]string) error {
	if d := def.Directives.ForName("goModel"); d != nil {
		model := d.Arguments.ForName("model").Value.Raw
		values, ok := consts[model]
		if !ok {
			return fmt.Errorf("enum %s: no constants known for %s (add it to goTypeEnums)", def.Name, model)
		}
		for _, v := range def.EnumValues {
			c, ok := values[v.Name]
			if !ok {
				return fmt.Errorf("enum %s: no constant for value %q", def.Name, v.Name)
			}
			v.Name = upperSnake(v.Name)
			v.Directives = append(v.Directives, &ast.Directive{Name: "goEnum", Arguments: ast.ArgumentList{{
				Name: "value", Value: &ast.Value{Kind: ast.StringValue, Raw: c},
			}}})
		}
		def.Description = schema.GraphQLEnumDocs[def.Name]["_"]
	}
	for _, v := range def.EnumValues {
		if v.Description == "" {
			v.Description = schema.GraphQLEnumDocs[def.Name][v.Name]
		}
	}
	if def.Description == "" && strings.HasSuffix(def.Name, "OrderField") {
		def.Description = fmt.Sprintf("The fields %s connections can be ordered by.", strings.TrimSuffix(def.Name, "OrderField"))
	}
	return nil
}

func goModelDirective(model string) *ast.Directive {
	return &ast.Directive{Name: "goModel", Arguments: ast.ArgumentList{{
		Name: "model", Value: &ast.Value{Kind: ast.StringValue, Raw: model},
	}}}
}

// typeComments are the ent types' schema.Comment annotations, by GraphQL type name.
func typeComments(g *gen.Graph) map[string]string {
	out := map[string]string{}
	for _, n := range g.Nodes {
		a, ok := n.Annotations["Comment"].(map[string]any)
		if !ok {
			continue
		}
		if text, ok := a["Text"].(string); ok {
			out[n.Name] = text
		}
	}
	return out
}

// edgeComments are the ent edges' comments, by "Type.field".
func edgeComments(g *gen.Graph) map[string]string {
	out := map[string]string{}
	for _, n := range g.Nodes {
		for _, e := range n.Edges {
			if c := e.Comment(); c != "" {
				out[n.Name+"."+camel(e.Name)] = c
			}
		}
	}
	return out
}

func camel(snake string) string {
	parts := strings.Split(snake, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// edgeInputDocs describe the to-many edge fields left in the generated inputs.
var edgeInputDocs = map[string]string{
	"CreateClassInput.childIds": "Classes of the same entity to nest directly under the new class.",
	"ClassPatch.addChildIds":    "Classes of the same entity to nest directly under this one; none may be one of its ancestors.",
	"ClassPatch.removeChildIds": "Classes to take out from under this one; they become top-level classes.",
	"ClassPatch.clearChildren":  "True makes every class directly under this one a top-level class.",
}

// describeMutationInput describes the fields entgql adds to create and update inputs: an
// edge's id as the object's own field says, and clearXxx.
func describeMutationInput(def *ast.Definition, s *ast.Schema) {
	node := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(def.Name, "Input"), "Create"), "Patch")
	if def.Name != node+"Patch" && !strings.HasPrefix(def.Name, "Create") {
		return
	}
	obj := s.Types[node]
	for _, f := range def.Fields {
		if f.Description != "" {
			continue
		}
		if d := edgeInputDocs[def.Name+"."+f.Name]; d != "" {
			f.Description = d
			continue
		}
		if obj != nil {
			if of := obj.Fields.ForName(f.Name); of != nil && of.Description != "" {
				f.Description = of.Description
				continue
			}
		}
		n := f.Name
		switch {
		case strings.HasPrefix(n, "clear"):
			f.Description = fmt.Sprintf("True empties %s.", lowerFirst(strings.TrimPrefix(n, "clear")))
		}
	}
}

func describeQueryFields(def *ast.Definition) {
	for _, f := range def.Fields {
		if f.Description != "" || !strings.HasSuffix(f.Type.Name(), "Connection") {
			continue
		}
		node := strings.TrimSuffix(f.Type.Name(), "Connection")
		f.Description = fmt.Sprintf("The %s records the caller may see, in pages: first defaults to 100 and may not exceed 1000; totalCount counts every match.", node)
	}
}

// describeWhereInput gives each filter predicate a description derived from its operator.
func describeWhereInput(def, obj *ast.Definition) {
	node := strings.TrimSuffix(def.Name, "WhereInput")
	def.Description = fmt.Sprintf("Filters %s records: every predicate given must hold.", node)
	has := func(n string) bool { return obj != nil && obj.Fields.ForName(n) != nil }
	for _, f := range def.Fields {
		if f.Description != "" && !strings.HasSuffix(f.Description, "predicates") {
			continue
		}
		switch f.Name {
		case "not":
			f.Description = "Matches records the given filter does not match."
			continue
		case "and":
			f.Description = "Matches records every given filter matches."
			continue
		case "or":
			f.Description = "Matches records at least one given filter matches."
			continue
		}
		k, ok := filterkey.Parse(f.Name, has)
		switch {
		case !ok:
		case k.Edge && k.With:
			f.Description = fmt.Sprintf("Has a related %s matching every given filter.", k.Field)
		case k.Edge:
			f.Description = fmt.Sprintf("Has at least one related %s.", k.Field)
		case k.Meaning == "":
			f.Description = fmt.Sprintf("%s equals the given value.", k.Field)
		default:
			f.Description = fmt.Sprintf("%s %s.", k.Field, k.Meaning)
		}
	}
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// undocumented lists every type, field, argument and enum value without a description.
func undocumented(s *ast.Schema) []string {
	var out []string
	for _, name := range sortedTypes(s) {
		def := s.Types[name]
		if def.BuiltIn {
			continue
		}
		if def.Description == "" {
			out = append(out, name)
		}
		for _, f := range def.Fields {
			if f.Description == "" {
				out = append(out, name+"."+f.Name)
			}
			for _, a := range f.Arguments {
				if a.Description == "" {
					out = append(out, name+"."+f.Name+"("+a.Name+")")
				}
			}
		}
		for _, v := range def.EnumValues {
			if v.Description == "" {
				out = append(out, name+"."+v.Name)
			}
		}
	}
	return out
}
