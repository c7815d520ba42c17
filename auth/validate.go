package auth

import (
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"fieldsync"
)

// Input limits, documented in openapi/.
const (
	MaxNameLen  = 128
	MaxSites    = 200
	MaxSiteID   = 64
	MaxDeviceID = 128
)

var (
	validUsername = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{0,63}$`)
	validTenant   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	validDeviceID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	validSiteID   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

func normalizeUsername(u string) string { return strings.ToLower(strings.TrimSpace(u)) }

func validateLogin(in LoginInput) error {
	switch {
	case in.Tenant == "":
		return fieldsync.FieldErrorf("tenant", "required (this server has no default tenant)")
	case !validTenant.MatchString(in.Tenant):
		return fieldsync.FieldErrorf("tenant", "must be 1-64 lower-case letters, digits, '_' or '-'")
	case in.Username == "":
		return fieldsync.FieldErrorf("username", "required")
	case len(in.Username) > 64:
		return fieldsync.FieldErrorf("username", "at most 64 characters")
	case in.Password == "":
		return fieldsync.FieldErrorf("password", "required")
	case len(in.Password) > MaxPasswordLen:
		return fieldsync.FieldErrorf("password", "at most %d bytes", MaxPasswordLen)
	case !validDeviceID.MatchString(in.DeviceID):
		return fieldsync.FieldErrorf("device_id", "required: 1-128 letters, digits, '.', '_', ':' or '-'")
	}
	return nil
}

func validatePassword(p string) error {
	if utf8.RuneCountInString(p) < MinPasswordLen || len(p) > MaxPasswordLen {
		return fieldsync.FieldErrorf("password", "must be %d to %d characters", MinPasswordLen, MaxPasswordLen)
	}
	return nil
}

// validateUser checks a user about to be stored and normalises its site list.
func validateUser(u *fieldsync.User) error {
	switch {
	case !validTenant.MatchString(u.TenantID):
		return fieldsync.FieldErrorf("tenant", "must be 1-64 lower-case letters, digits, '_' or '-'")
	case !validUsername.MatchString(u.Username):
		return fieldsync.FieldErrorf("username", "must be 1-64 lower-case letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
	case strings.TrimSpace(u.Name) == "" || utf8.RuneCountInString(u.Name) > MaxNameLen:
		return fieldsync.FieldErrorf("name", "required, at most %d characters", MaxNameLen)
	case !u.Role.Valid():
		return fieldsync.FieldErrorf("role", "must be one of guard, technician, cs_agent, supervisor, admin")
	case u.Role == fieldsync.RoleTechnician && u.Department != fieldsync.DeptEngineering && u.Department != fieldsync.DeptEnvironment:
		return fieldsync.FieldErrorf("department", "a technician needs department engineering or environment")
	case u.Role != fieldsync.RoleTechnician && u.Department != "":
		return fieldsync.FieldErrorf("department", "only technicians have a department")
	case len(u.SiteIDs) > MaxSites:
		return fieldsync.FieldErrorf("site_ids", "at most %d sites", MaxSites)
	}
	for _, s := range u.SiteIDs {
		if !validSiteID.MatchString(s) {
			return fieldsync.FieldErrorf("site_ids", "site ids are 1-64 letters, digits, '_' or '-'")
		}
	}
	if u.SiteIDs == nil {
		u.SiteIDs = []string{}
	}
	slices.Sort(u.SiteIDs)
	u.SiteIDs = slices.Compact(u.SiteIDs)
	return nil
}
