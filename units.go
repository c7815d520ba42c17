package fieldsync

import (
	"context"
	"io"
)

// UnitStatuses are the states of a unit.
var UnitStatuses = []string{"vacant", "occupied", "renovating"}

// HistoryItem is one record of a unit's history: a complaint, work order or
// inspection referencing it, as the caller may see it.
type HistoryItem struct {
	Collection string         `json:"collection"`
	ID         string         `json:"id"`
	CreatedAt  string         `json:"created_at"`
	Doc        map[string]any `json:"doc"`
}

// UnitHistory is a unit with its households and the records referencing it, newest first.
type UnitHistory struct {
	Unit       map[string]any   `json:"unit"`
	Households []map[string]any `json:"households"`
	Items      []HistoryItem    `json:"items"`
}

// ImportResult counts what a CSV import of units and households wrote.
type ImportResult struct {
	Rows              int `json:"rows"`
	UnitsCreated      int `json:"units_created"`
	UnitsUpdated      int `json:"units_updated"`
	HouseholdsCreated int `json:"households_created"`
	HouseholdsUpdated int `json:"households_updated"`
}

// UnitService serves units: their history and their import.
type UnitService interface {
	// UnitHistory returns a unit's history; not_found unless the caller is
	// of the desk of the unit's site (or an admin).
	UnitHistory(ctx context.Context, unitID string) (*UnitHistory, error)
	// ImportUnits reads units and households from CSV and writes them all or
	// none: invalid_input naming every bad line (Error.Problems) before
	// anything is written; forbidden unless the caller is an admin of tenant
	// (no caller: a command-line import).
	ImportUnits(ctx context.Context, tenant string, csv io.Reader) (*ImportResult, error)
}
