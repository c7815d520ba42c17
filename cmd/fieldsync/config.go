package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"fieldsync"
	"fieldsync/api"
	"fieldsync/auth"
	"fieldsync/media"

	"golang.org/x/image/font/opentype"
)

// Config is everything fieldsync reads from its environment. Every variable is
// listed in the README's configuration table.
type Config struct {
	Addr          string
	DataDir       string
	MongoURI      string
	MongoDB       string
	S3Endpoint    string
	S3AccessKey   string
	S3SecretKey   string
	S3Bucket      string
	S3Secure      bool
	S3PublicEnd   string
	LogLevel      slog.Level
	DefaultTenant string
	SyncRetention time.Duration
	// EventStreams is how many live event streams one user may hold
	// (FIELDSYNC_EVENT_STREAMS_PER_USER, default 4).
	EventStreams int
	// AuditRetention keeps audit entries (FIELDSYNC_AUDIT_RETENTION).
	AuditRetention time.Duration
	ShutdownGrace  time.Duration
	Auth           AuthConfig
	// Media are the photo-evidence settings (FIELDSYNC_MEDIA_*).
	Media       MediaConfig
	RateAddress api.RateLimit
	RateDevice  api.RateLimit
	// TrustedProxies are the proxies whose X-Forwarded-For is believed
	// (FIELDSYNC_TRUSTED_PROXIES).
	TrustedProxies []netip.Prefix
	// DebugAddr, when set, serves pprof and expvar (db_commands) on a loopback address.
	DebugAddr string
	// InstanceID names this server across restarts (FIELDSYNC_INSTANCE_ID;
	// see instanceName).
	InstanceID string
	// instance is the name the sync engine's reservations carry: set by
	// `serve` only, once it holds its listen address.
	instance string
}

// MediaConfig are the photo-evidence settings.
type MediaConfig struct {
	MaxBytes int64
	// MaxBytesByKind are the limits of the kinds other than photos
	// (FIELDSYNC_MEDIA_MAX_BYTES_SIGNATURE, _VIDEO, _AUDIO, _DOCUMENT).
	MaxBytesByKind map[string]int64
	// StampFont is FIELDSYNC_MEDIA_STAMP_FONT parsed: a font with the glyphs
	// the bundled one lacks (CJK) for stamped images; nil when unset.
	StampFont       *opentype.Font
	UploadExpiry    time.Duration
	DownloadExpiry  time.Duration
	CleanupAge      time.Duration
	CleanupInterval time.Duration
}

func loadMediaConfig(env func(string, string) string) (MediaConfig, error) {
	var m MediaConfig
	v := env("FIELDSYNC_MEDIA_MAX_BYTES", "20971520")
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1024 || n > 5<<30 {
		return m, &configError{"FIELDSYNC_MEDIA_MAX_BYTES", v, "want a whole number of bytes between 1024 and 5368709120"}
	}
	m.MaxBytes = n
	m.MaxBytesByKind = map[string]int64{}
	for _, k := range []struct {
		kind, name, def string
	}{
		{fieldsync.KindSignature, "FIELDSYNC_MEDIA_MAX_BYTES_SIGNATURE", "2097152"},
		{fieldsync.KindVideo, "FIELDSYNC_MEDIA_MAX_BYTES_VIDEO", "209715200"},
		{fieldsync.KindAudio, "FIELDSYNC_MEDIA_MAX_BYTES_AUDIO", "20971520"},
		{fieldsync.KindDocument, "FIELDSYNC_MEDIA_MAX_BYTES_DOCUMENT", "20971520"},
	} {
		v := env(k.name, k.def)
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1024 || n > 5<<30 {
			return m, &configError{k.name, v, "want a whole number of bytes between 1024 and 5368709120"}
		}
		m.MaxBytesByKind[k.kind] = n
	}
	if path := env("FIELDSYNC_MEDIA_STAMP_FONT", ""); path != "" {
		b, err := os.ReadFile(path)
		if err == nil {
			m.StampFont, err = media.ParseFont(b)
		}
		if err != nil {
			return m, &configError{"FIELDSYNC_MEDIA_STAMP_FONT", path, "want a readable TrueType/OpenType font file or collection: " + err.Error()}
		}
	}
	for _, d := range []struct {
		dst       *time.Duration
		name, def string
		max       time.Duration
	}{
		{&m.UploadExpiry, "FIELDSYNC_MEDIA_UPLOAD_EXPIRY", "15m", 7 * 24 * time.Hour},
		{&m.DownloadExpiry, "FIELDSYNC_MEDIA_DOWNLOAD_EXPIRY", "5m", 7 * 24 * time.Hour},
		{&m.CleanupAge, "FIELDSYNC_MEDIA_CLEANUP_AGE", "168h", 0},
		{&m.CleanupInterval, "FIELDSYNC_MEDIA_CLEANUP_INTERVAL", "10m", 0},
	} {
		if *d.dst, err = duration(env, d.name, d.def); err != nil {
			return m, err
		}
		if d.max > 0 && *d.dst > d.max {
			return m, &configError{d.name, d.dst.String(), "presigned URLs live at most 168h"}
		}
	}
	return m, nil
}

// AuthConfig is the token and login configuration.
type AuthConfig struct {
	AccessTTL    time.Duration
	RefreshTTL   time.Duration
	ReuseGrace   time.Duration
	CacheTTL     time.Duration
	KeyFile      string
	PreviousKeys []string
	KeyDir       string
	// KeyReload is how often the key directory is re-read (auth.KeyReload by default).
	KeyReload      time.Duration
	MaxFailsUser   int
	MaxFailsAddr   int
	MaxFailsAcct   int
	ThrottleWindow time.Duration
}

// configError names the variable that stopped start-up.
type configError struct {
	name, value, why string
}

func (e *configError) Error() string {
	return fmt.Sprintf("config: %s=%q: %s", e.name, e.value, e.why)
}

// LoadConfig reads the configuration from getenv.
func LoadConfig(getenv func(string) string) (Config, error) {
	env := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := Config{
		Addr:          env("FIELDSYNC_ADDR", "127.0.0.1:8080"),
		DataDir:       env("FIELDSYNC_DATA_DIR", "./data"),
		MongoURI:      env("FIELDSYNC_MONGO_URI", ""),
		MongoDB:       env("FIELDSYNC_MONGO_DB", "fieldsync"),
		S3Endpoint:    env("FIELDSYNC_S3_ENDPOINT", ""),
		S3AccessKey:   env("FIELDSYNC_S3_ACCESS_KEY", ""),
		S3SecretKey:   env("FIELDSYNC_S3_SECRET_KEY", ""),
		S3Bucket:      env("FIELDSYNC_S3_BUCKET", "fieldsync"),
		S3PublicEnd:   env("FIELDSYNC_S3_PUBLIC_ENDPOINT", ""),
		DefaultTenant: env("FIELDSYNC_DEFAULT_TENANT", ""),
		DebugAddr:     env("FIELDSYNC_DEBUG_ADDR", ""),
		InstanceID:    env("FIELDSYNC_INSTANCE_ID", ""),
	}
	if len(c.InstanceID) > 200 || strings.ContainsFunc(c.InstanceID, unicode.IsControl) {
		return c, &configError{"FIELDSYNC_INSTANCE_ID", c.InstanceID, "at most 200 characters, no control characters"}
	}
	// Absolute before anything starts: the embedded S3 gateway changes the
	// process's working directory to its object root, where a relative path
	// would then land (the JWT keys of ./data/keys inside a bucket).
	var err error
	if c.DataDir, err = absPath("FIELDSYNC_DATA_DIR", c.DataDir); err != nil {
		return c, err
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return c, &configError{"FIELDSYNC_ADDR", c.Addr, "want host:port"}
	}
	if c.MongoURI != "" && !strings.HasPrefix(c.MongoURI, "mongodb://") && !strings.HasPrefix(c.MongoURI, "mongodb+srv://") {
		return c, &configError{"FIELDSYNC_MONGO_URI", "(hidden)", "want a mongodb:// or mongodb+srv:// URI"}
	}
	if c.S3Endpoint != "" {
		if strings.Contains(c.S3Endpoint, "://") {
			return c, &configError{"FIELDSYNC_S3_ENDPOINT", c.S3Endpoint, "want host:port without a scheme (use FIELDSYNC_S3_SECURE for TLS)"}
		}
		if c.S3AccessKey == "" || c.S3SecretKey == "" {
			return c, &configError{"FIELDSYNC_S3_ACCESS_KEY", "", "FIELDSYNC_S3_ACCESS_KEY and FIELDSYNC_S3_SECRET_KEY are required with FIELDSYNC_S3_ENDPOINT"}
		}
	}
	if v := env("FIELDSYNC_S3_SECURE", "false"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, &configError{"FIELDSYNC_S3_SECURE", v, "want true or false"}
		}
		c.S3Secure = b
	}
	lv := env("FIELDSYNC_LOG_LEVEL", "info")
	if err := c.LogLevel.UnmarshalText([]byte(lv)); err != nil {
		return c, &configError{"FIELDSYNC_LOG_LEVEL", lv, "want debug, info, warn or error"}
	}
	if c.SyncRetention, err = duration(env, "FIELDSYNC_SYNC_RETENTION", "720h"); err != nil {
		return c, err
	}
	if c.EventStreams, err = positiveInt(env, "FIELDSYNC_EVENT_STREAMS_PER_USER", "4"); err != nil {
		return c, err
	}
	if c.AuditRetention, err = duration(env, "FIELDSYNC_AUDIT_RETENTION", "17520h"); err != nil {
		return c, err
	}
	if c.ShutdownGrace, err = duration(env, "FIELDSYNC_SHUTDOWN_GRACE", "20s"); err != nil {
		return c, err
	}
	if c.Media, err = loadMediaConfig(env); err != nil {
		return c, err
	}
	if c.Auth, err = loadAuthConfig(env, c.DataDir); err != nil {
		return c, err
	}
	if c.RateAddress, err = rateLimit(env, "FIELDSYNC_RATE_PER_ADDRESS", api.DefaultAddressLimit); err != nil {
		return c, err
	}
	if c.RateDevice, err = rateLimit(env, "FIELDSYNC_RATE_PER_DEVICE", api.DefaultDeviceLimit); err != nil {
		return c, err
	}
	if v := env("FIELDSYNC_TRUSTED_PROXIES", ""); v != "" {
		if c.TrustedProxies, err = api.ParseTrustedProxies(v); err != nil {
			return c, &configError{"FIELDSYNC_TRUSTED_PROXIES", v, "want comma-separated IP addresses or CIDR prefixes"}
		}
	}
	return c, nil
}

func loadAuthConfig(env func(string, string) string, dataDir string) (AuthConfig, error) {
	var a AuthConfig
	var err error
	for _, d := range []struct {
		dst       *time.Duration
		name, def string
	}{
		{&a.AccessTTL, "FIELDSYNC_ACCESS_TOKEN_TTL", "15m"},
		{&a.RefreshTTL, "FIELDSYNC_REFRESH_TOKEN_TTL", "720h"},
		{&a.ReuseGrace, "FIELDSYNC_REFRESH_REUSE_GRACE", "720h"},
		{&a.CacheTTL, "FIELDSYNC_AUTH_CACHE_TTL", "5s"},
		{&a.ThrottleWindow, "FIELDSYNC_LOGIN_WINDOW", "15m"},
	} {
		if *d.dst, err = duration(env, d.name, d.def); err != nil {
			return a, err
		}
	}
	if a.RefreshTTL <= a.AccessTTL {
		return a, &configError{"FIELDSYNC_REFRESH_TOKEN_TTL", a.RefreshTTL.String(), "must be longer than FIELDSYNC_ACCESS_TOKEN_TTL"}
	}
	if a.AccessTTL > 24*time.Hour {
		return a, &configError{"FIELDSYNC_ACCESS_TOKEN_TTL", a.AccessTTL.String(), "at most 24h: revocation of offline phones relies on short access tokens"}
	}
	if a.MaxFailsUser, err = positiveInt(env, "FIELDSYNC_LOGIN_MAX_FAILURES_USER", "5"); err != nil {
		return a, err
	}
	if a.MaxFailsAddr, err = positiveInt(env, "FIELDSYNC_LOGIN_MAX_FAILURES_ADDR", "30"); err != nil {
		return a, err
	}
	if a.MaxFailsAcct, err = positiveInt(env, "FIELDSYNC_LOGIN_MAX_FAILURES_ACCOUNT", "100"); err != nil {
		return a, err
	}
	if a.KeyReload, err = duration(env, "FIELDSYNC_JWT_KEY_RELOAD", auth.KeyReload.String()); err != nil {
		return a, err
	}
	if a.KeyFile = env("FIELDSYNC_JWT_KEY_FILE", ""); a.KeyFile != "" {
		if a.KeyFile, err = absPath("FIELDSYNC_JWT_KEY_FILE", a.KeyFile); err != nil {
			return a, err
		}
	}
	if v := env("FIELDSYNC_JWT_PREVIOUS_KEY_FILES", ""); v != "" {
		if a.KeyFile == "" {
			return a, &configError{"FIELDSYNC_JWT_PREVIOUS_KEY_FILES", v, "needs FIELDSYNC_JWT_KEY_FILE"}
		}
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				if p, err = absPath("FIELDSYNC_JWT_PREVIOUS_KEY_FILES", p); err != nil {
					return a, err
				}
				a.PreviousKeys = append(a.PreviousKeys, p)
			}
		}
	}
	if a.KeyDir, err = absPath("FIELDSYNC_JWT_KEY_DIR", env("FIELDSYNC_JWT_KEY_DIR", filepath.Join(dataDir, "keys"))); err != nil {
		return a, err
	}
	return a, nil
}

// absPath makes a configured path absolute against the working directory at start.
func absPath(name, p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", &configError{name, p, err.Error()}
	}
	return abs, nil
}

func positiveInt(env func(string, string) string, name, def string) (int, error) {
	v := env(name, def)
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, &configError{name, v, "want a positive integer"}
	}
	return n, nil
}

func duration(env func(string, string) string, name, def string) (time.Duration, error) {
	v := env(name, def)
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, &configError{name, v, "want a positive Go duration such as 720h or 30s"}
	}
	return d, nil
}

// rateLimit parses "RATE,BURST" (requests per second, bucket size) or "off".
func rateLimit(env func(string, string) string, name string, def api.RateLimit) (api.RateLimit, error) {
	v := env(name, "")
	switch v {
	case "":
		return def, nil
	case "off":
		return api.RateLimit{Rate: -1}, nil
	}
	r, b, ok := strings.Cut(v, ",")
	rate, err1 := strconv.ParseFloat(r, 64)
	burst, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || rate <= 0 || burst < 1 {
		return def, &configError{name, v, "want RATE,BURST (e.g. 30,60) or off"}
	}
	return api.RateLimit{Rate: rate, Burst: burst}, nil
}
