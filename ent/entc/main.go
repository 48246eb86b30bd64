// Command entc generates the ent client from ./schema and, through entgql, the stored part of
// the GraphQL schema (graph/ent.graphqls), which the hook in gqlschema.go brings to the API's
// naming convention (docs/api-conventions.md). Run it from ent/ with go generate.
package main

import (
	"log"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
)

func main() {
	ex, err := entgql.NewExtension(
		entgql.WithConfigPath("../gqlgen.yml"),
		entgql.WithSchemaGenerator(),
		entgql.WithSchemaPath("../graph/ent.graphqls"),
		entgql.WithWhereInputs(true),
		entgql.WithRelaySpec(true),
		entgql.WithSchemaHook(conventionHook),
	)
	if err != nil {
		log.Fatalf("creating entgql extension: %v", err)
	}
	err = entc.Generate("./schema", &gen.Config{
		Features: []gen.Feature{
			gen.FeatureUpsert,
			gen.FeatureExecQuery,
			gen.FeatureLock,
			gen.FeatureModifier,
			gen.FeatureIntercept,
		},
		Templates: []*gen.Template{
			gen.MustParse(gen.NewTemplate("sqltx").ParseFiles("template/sqltx.tmpl")),
		},
	}, entc.Extensions(ex))
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}
