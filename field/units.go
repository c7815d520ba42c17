package field

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"fieldsync"
	fsync "fieldsync/sync"
)

// Units declares the units collection: reference data of a site's units
// (building, unit number, floor, area, status), written by admins, read by
// everyone at the site.
func Units() *fsync.Collection {
	return &fsync.Collection{
		Name: fieldsync.CollUnits,
		Fields: []fsync.Field{
			siteField,
			{Name: "building", Kind: fsync.String, Max: 100, Client: true, Required: true},
			{Name: "unit_number", Kind: fsync.String, Max: 50, Client: true, Required: true},
			{Name: "floor", Kind: fsync.Int, Min: -20, Max: 300, Client: true},
			{Name: "area_m2", Kind: fsync.Number, Min: 0, Max: 1000000, Client: true},
			{Name: "status", Kind: fsync.Enum, Values: fieldsync.UnitStatuses, Client: true, Default: "vacant"},
			{Name: "notes", Kind: fsync.String, Max: 2000, Client: true},
		},
		Rules: referenceRules,
	}
}

// Households declares the households collection: who lives in or owns a
// unit. Phones are stored whole and reach guards and technicians masked;
// only admins write households (a role that sees a phone masked never
// writes it).
func Households() *fsync.Collection {
	return &fsync.Collection{
		Name: fieldsync.CollHouseholds,
		Fields: []fsync.Field{
			siteField,
			{Name: "unit_id", Kind: fsync.UUID, Client: true, Required: true, Immutable: true},
			{Name: "owner_name", Kind: fsync.String, Max: 100, Client: true},
			{Name: "owner_phone", Kind: fsync.String, Max: 32, Client: true},
			{Name: "resident_name", Kind: fsync.String, Max: 100, Client: true},
			{Name: "resident_phone", Kind: fsync.String, Max: 32, Client: true},
			// move_in_date is a calendar date, YYYY-MM-DD.
			{Name: "move_in_date", Kind: fsync.String, Max: 10, Client: true},
			{Name: "notes", Kind: fsync.String, Max: 2000, Client: true},
		},
		Rules:  referenceRules,
		Redact: maskHouseholdPhones,
	}
}

// maskHouseholdPhones hides owners' and residents' phones from field roles.
func maskHouseholdPhones(c *fieldsync.Caller, doc map[string]any) {
	if c != nil && fieldsync.SeesOwnerContact(c.Role) {
		return
	}
	for _, f := range []string{"owner_phone", "resident_phone"} {
		if p, ok := doc[f].(string); ok {
			doc[f] = fieldsync.MaskPhone(p)
		}
	}
}

// unitField references the unit a complaint, work order or inspection is
// about (kept plainly for the unit's history).
var unitField = fsync.Field{Name: "unit_id", Kind: fsync.UUID, Client: true, Queried: true}

// historyCollections are the collections whose records make a unit's history.
var historyCollections = []string{fieldsync.CollComplaints, fieldsync.CollWorkOrders, fieldsync.CollInspections}

// UnitService implements fieldsync.UnitService over an engine serving the
// field collections: a unit's history, and the units import.
type UnitService struct {
	Engine *fsync.Engine
}

var _ fieldsync.UnitService = (*UnitService)(nil)

// UnitHistory implements fieldsync.UnitService: the unit, its households and
// its complaints, work orders and inspections, newest first, for the desk of
// the unit's site.
func (s *UnitService) UnitHistory(ctx context.Context, unitID string) (*fieldsync.UnitHistory, error) {
	e := s.Engine
	c := fieldsync.CallerFromContext(ctx)
	if c == nil {
		return nil, fieldsync.Errorf(fieldsync.EUnauthorized, "no caller")
	}
	notFound := fieldsync.Errorf(fieldsync.ENotFound, "no such unit")
	unit, err := e.Record(ctx, c.TenantID, fieldsync.CollUnits, unitID)
	switch {
	case fieldsync.ErrorCode(err) == fieldsync.ENotFound:
		return nil, notFound
	case err != nil:
		return nil, err
	case !fieldsync.CanReport(c, unit.SiteID):
		return nil, notFound
	}
	out := &fieldsync.UnitHistory{Unit: e.Render(c, unit), Households: []map[string]any{}, Items: []fieldsync.HistoryItem{}}
	ofUnit := fsync.Query{Sites: []string{unit.SiteID}, Live: true, Equal: map[string]any{"unit_id": unitID}}
	hs, err := e.Find(ctx, c.TenantID, fieldsync.CollHouseholds, ofUnit)
	if err != nil {
		return nil, err
	}
	for _, h := range hs {
		out.Households = append(out.Households, e.Render(c, h))
	}
	now := e.Now()
	var recs []*fsync.Record
	for _, name := range historyCollections {
		if e.Collection(name) == nil {
			continue
		}
		some, err := e.Find(ctx, c.TenantID, name, ofUnit)
		if err != nil {
			return nil, err
		}
		for _, r := range some {
			if fieldsync.CanRead(c, r.Ref(), now) {
				recs = append(recs, r)
			}
		}
	}
	sort.SliceStable(recs, func(i, j int) bool {
		if !recs[i].CreatedAt.Equal(recs[j].CreatedAt) {
			return recs[i].CreatedAt.After(recs[j].CreatedAt)
		}
		return recs[i].Key > recs[j].Key
	})
	for _, r := range recs {
		out.Items = append(out.Items, fieldsync.HistoryItem{Collection: r.Collection, ID: r.ID,
			CreatedAt: r.CreatedAt.UTC().Format(time.RFC3339Nano), Doc: e.Render(c, r)})
	}
	return out, nil
}

// Import limits.
const (
	// MaxImportRows bounds the rows of one CSV import.
	MaxImportRows = 20000
	// importChunk is how many records one write of an import carries.
	importChunk = 500
	// maxImportProblems bounds the bad lines one answer names.
	maxImportProblems = 100
)

// importColumns are the columns a units CSV may have (header row, any
// order); site_id, building and unit_number are required. A row with any
// household column also writes the unit's household.
var (
	unitColumns      = []string{"site_id", "building", "unit_number", "floor", "area_m2", "status", "notes"}
	householdColumns = []string{"owner_name", "owner_phone", "resident_name", "resident_phone", "move_in_date", "household_notes"}
)

// UnitID is the id an import gives the unit of (site, building, unit
// number): the same row imported again updates it.
func UnitID(tenant, site, building, unit string) string {
	return derivedID("unit", tenant, site, building, unit)
}

// HouseholdID is the id of the household an import writes for a unit.
func HouseholdID(unitID string) string { return derivedID("household", unitID) }

type importRow struct {
	line      int
	site      string
	unitID    string
	unit      map[string]any
	household map[string]any
}

// ImportUnits implements fieldsync.UnitService. Every row is validated — as
// a push of the same fields would be, plus the date format and duplicates
// within the file — before anything is written; then every unit and
// household is written through the engine, as one push of the importing
// admin (or of the server, from the command line): versioned, audited and
// pulled like any change. Ids derive from (site, building, unit number), so
// importing the same file again updates, never duplicates — which is also
// how an import a crash cut short is completed.
func (s *UnitService) ImportUnits(ctx context.Context, tenant string, in io.Reader) (*fieldsync.ImportResult, error) {
	e := s.Engine
	c := fieldsync.CallerFromContext(ctx)
	if c != nil && (!fieldsync.CanAdminister(c) || c.TenantID != tenant) {
		return nil, fieldsync.Errorf(fieldsync.EForbidden, "only admins import units")
	}
	if tenant == "" {
		return nil, fieldsync.FieldErrorf("tenant", "required")
	}
	units, households := e.Collection(fieldsync.CollUnits), e.Collection(fieldsync.CollHouseholds)
	if units == nil || households == nil {
		return nil, fieldsync.Errorf(fieldsync.EUnavailable, "units are not declared on this engine")
	}
	rows, err := parseUnitsCSV(tenant, units, households, c, in)
	if err != nil {
		return nil, err
	}
	// What exists already: update it, else create it.
	have := map[string]bool{}
	for _, name := range []string{fieldsync.CollUnits, fieldsync.CollHouseholds} {
		if err := e.Records(ctx, tenant, name, func(r *fsync.Record) error { have[name+"/"+r.ID] = true; return nil }); err != nil {
			return nil, err
		}
	}
	res := &fieldsync.ImportResult{Rows: len(rows)}
	var writes []fsync.Write
	for _, r := range rows {
		k := fieldsync.CollUnits + "/" + r.unitID
		writes = append(writes, fsync.Write{Collection: fieldsync.CollUnits, ID: r.unitID, Create: !have[k], SiteID: r.site, Set: r.unit})
		if have[k] {
			res.UnitsUpdated++
		} else {
			res.UnitsCreated++
		}
		if r.household == nil {
			continue
		}
		hid := HouseholdID(r.unitID)
		hk := fieldsync.CollHouseholds + "/" + hid
		writes = append(writes, fsync.Write{Collection: fieldsync.CollHouseholds, ID: hid, Create: !have[hk], SiteID: r.site, Set: r.household})
		if have[hk] {
			res.HouseholdsUpdated++
		} else {
			res.HouseholdsCreated++
		}
	}
	// In pushes of importChunk writes: each write round must land within
	// its reservation's lifetime however large the file.
	for len(writes) > 0 {
		n := min(len(writes), importChunk)
		if err := e.ApplyAs(ctx, c, tenant, writes[:n]); err != nil {
			return nil, err
		}
		writes = writes[n:]
	}
	return res, nil
}

// parseUnitsCSV reads and validates every row; the error names every bad
// line (up to maxImportProblems) as "line N.column".
func parseUnitsCSV(tenant string, units, households *fsync.Collection, c *fieldsync.Caller, in io.Reader) ([]importRow, error) {
	cr := csv.NewReader(in)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fieldsync.FieldErrorf("line 1", "empty file: want a header row")
	}
	if err != nil {
		return nil, csvError(err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF")) // Excel's BOM
		if !slices.Contains(unitColumns, h) && !slices.Contains(householdColumns, h) {
			return nil, fieldsync.FieldErrorf("line 1."+h, "unknown column; want %s", strings.Join(append(slices.Clone(unitColumns), householdColumns...), ", "))
		}
		if _, dup := col[h]; dup {
			return nil, fieldsync.FieldErrorf("line 1."+h, "column given twice")
		}
		col[h] = i
	}
	for _, req := range []string{"site_id", "building", "unit_number"} {
		if _, ok := col[req]; !ok {
			return nil, fieldsync.FieldErrorf("line 1."+req, "required column missing")
		}
	}
	var rows []importRow
	var problems []fieldsync.FieldProblem
	bad := func(line int, field, format string, args ...any) {
		if len(problems) < maxImportProblems {
			problems = append(problems, fieldsync.FieldProblem{Field: fmt.Sprintf("line %d.%s", line, field), Detail: fmt.Sprintf(format, args...)})
		}
	}
	seen := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				// The reader cannot tell where the next row starts: stop here.
				bad(pe.StartLine, "csv", "%v", pe.Err)
				break
			}
			return nil, csvError(err)
		}
		line, _ := cr.FieldPos(0)
		if len(rows)+len(problems) >= MaxImportRows {
			return nil, fieldsync.Errorf(fieldsync.EPayloadTooLarge, "at most %d rows per import", MaxImportRows)
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a blank line
		}
		if len(rec) != len(header) {
			bad(line, "csv", "%d columns, the header has %d", len(rec), len(header))
			continue
		}
		cell := func(name string) string {
			if i, ok := col[name]; ok {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		row := importRow{line: line, site: cell("site_id")}
		if c != nil && !c.HasSite(row.site) && c.Role != fieldsync.RoleAdmin {
			bad(line, "site_id", "not a site of yours")
			continue
		}
		unitRaw, ok := rawOf(units, unitColumns, cell, nil)
		if !ok {
			bad(line, "csv", "not valid UTF-8")
			continue
		}
		u, err := units.DecodeFields(unitRaw, true)
		if err != nil {
			bad(line, strings.TrimPrefix(fieldsync.ErrorField(err), "fields."), "%s", fieldsync.ErrorMessage(err))
			continue
		}
		row.unitID = UnitID(tenant, row.site, cell("building"), cell("unit_number"))
		if first, dup := seen[row.unitID]; dup {
			bad(line, "unit_number", "the same unit as line %d", first)
			continue
		}
		seen[row.unitID] = line
		delete(u, fsync.SiteField)
		row.unit = u
		hasHousehold := false
		for _, h := range householdColumns {
			if cell(h) != "" {
				hasHousehold = true
			}
		}
		if hasHousehold {
			rename := map[string]string{"household_notes": "notes"}
			hRaw, ok := rawOf(households, householdColumns, cell, rename)
			if !ok {
				bad(line, "csv", "not valid UTF-8")
				continue
			}
			hRaw[fsync.SiteField], _ = json.Marshal(row.site)
			hRaw["unit_id"], _ = json.Marshal(row.unitID)
			h, err := households.DecodeFields(hRaw, true)
			if err != nil {
				f := strings.TrimPrefix(fieldsync.ErrorField(err), "fields.")
				if f == "notes" {
					f = "household_notes"
				}
				bad(line, f, "%s", fieldsync.ErrorMessage(err))
				continue
			}
			if d := cell("move_in_date"); d != "" {
				if _, err := time.Parse(time.DateOnly, d); err != nil {
					bad(line, "move_in_date", "want a date YYYY-MM-DD")
					continue
				}
			}
			delete(h, fsync.SiteField)
			row.household = h
		}
		rows = append(rows, row)
	}
	if len(problems) > 0 {
		return nil, &fieldsync.Error{Code: fieldsync.EInvalid, Field: problems[0].Field,
			Message:  fmt.Sprintf("%d bad line(s), nothing imported; first: %s: %s", len(problems), problems[0].Field, problems[0].Detail),
			Problems: problems}
	}
	if len(rows) == 0 {
		return nil, fieldsync.FieldErrorf("line 2", "no rows to import")
	}
	return rows, nil
}

// rawOf builds the JSON fields of a row's columns for decodeFields: numbers
// as numbers, the rest as strings; empty cells are left out. rename maps a
// column to its field. ok is false for a cell that is not UTF-8.
func rawOf(coll *fsync.Collection, columns []string, cell func(string) string, rename map[string]string) (map[string]json.RawMessage, bool) {
	raw := map[string]json.RawMessage{}
	for _, name := range columns {
		v := cell(name)
		if v == "" {
			continue
		}
		if !utf8.ValidString(v) {
			return nil, false
		}
		field := name
		if r, ok := rename[name]; ok {
			field = r
		}
		f := coll.Field(field)
		if f != nil && (f.Kind == fsync.Int || f.Kind == fsync.Number) {
			if _, err := strconv.ParseFloat(v, 64); err == nil {
				raw[field] = json.RawMessage(v)
				continue
			}
		}
		raw[field], _ = json.Marshal(v)
	}
	return raw, true
}

func csvError(err error) error {
	return fieldsync.WrapError(fieldsync.EInvalid, "unreadable CSV", err)
}
