package field

import (
	"strings"
	"testing"

	"fieldsync"
)

// FuzzParseUnitsCSV feeds the units import's CSV reader arbitrary files: it
// never panics, and a file it accepts yields rows whose every unit is valid
// and unique, or it names at least one bad line.
func FuzzParseUnitsCSV(f *testing.F) {
	for _, seed := range []string{
		"site_id,building,unit_number,floor,area_m2,status,owner_name,owner_phone,move_in_date\ns1,3号楼,1201,12,89.5,occupied,王芳,13800001111,2021-05-01\n",
		"\uFEFFsite_id,building,unit_number\ns1,A,1\ns1,A,1\n",
		"site_id,building,unit_number,floor\ns1,A,1,twelve\n",
		"site_id,building\n",
		"site_id,building,unit_number\n\"s1,A,1\n",
		"",
	} {
		f.Add(seed)
	}
	units, households := Units(), Households()
	f.Fuzz(func(t *testing.T, in string) {
		rows, err := parseUnitsCSV("t1", units, households, nil, strings.NewReader(in))
		if err != nil {
			if fieldsync.ErrorCode(err) == fieldsync.EInternal {
				t.Fatalf("internal error for client input: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, r := range rows {
			if r.site == "" || r.unitID == "" || seen[r.unitID] || r.unit["building"] == nil || r.unit["unit_number"] == nil {
				t.Fatalf("accepted a bad row: %+v", r)
			}
			seen[r.unitID] = true
		}
	})
}
