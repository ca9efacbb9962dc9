package plan

// MigrateKind is the journal of `plumb migrate` (plan/migrate.go): there
// while a migration runs, or after one was interrupted, for recover to
// roll back; removed once it is done.
var MigrateKind = Register(migrateKindT{})

type migrateKindT struct{ FactsCodec[MigrateFacts] }

func (migrateKindT) Name() string      { return "migrate" }
func (migrateKindT) FactsVersion() int { return 1 }

// MigrateFacts are a migration's: none, its steps say everything.
type MigrateFacts struct{}

// Kind is MigrateKind.
func (MigrateFacts) Kind() Kind { return MigrateKind }

func (migrateKindT) DecodeDetails(*DetailsReader) Facts { return MigrateFacts{} }
