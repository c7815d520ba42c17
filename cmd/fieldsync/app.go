package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"fieldsync"
	"fieldsync/api"
	"fieldsync/auth"
	"fieldsync/devstack"
	"fieldsync/field"
	"fieldsync/media"
	"fieldsync/mongodb"
	fsync "fieldsync/sync"
)

// App is fieldsync wired together: the stores (embedded or external) and the
// services on top. cmd/ is the only place that knows all of them.
type App struct {
	cfg     Config
	log     *slog.Logger
	stack   *devstack.Stack
	store   *mongodb.Store
	objects *media.ObjectStore
	auth    *auth.Service
	engine  *fsync.Engine
	// mediaStore keeps photo metadata (the pending gauge counts it).
	mediaStore *mongodb.MediaStore
	media      *media.Service
	// stopKeys ends the key-directory reload loop.
	stopKeys context.CancelFunc
	// firstRun is the one-time setup of a data dir with no user (nil once there is one).
	firstRun api.FirstRun
}

// OpenApp starts the embedded stores where nothing external is configured,
// connects, and applies indexes.
func OpenApp(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	a := &App{cfg: cfg, log: log}
	if err := a.open(ctx); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) open(ctx context.Context) error {
	cfg := &a.cfg
	needDB, needS3 := cfg.MongoURI == "", cfg.S3Endpoint == ""
	if needDB || needS3 {
		dir, err := filepath.Abs(cfg.DataDir)
		if err != nil {
			return fmt.Errorf("config: FIELDSYNC_DATA_DIR=%q: %w", cfg.DataDir, err)
		}
		cfg.DataDir = dir
		a.stack, err = devstack.Start(ctx, devstack.Options{Dir: dir, Logger: a.log, NoDatabase: !needDB, NoObjectStore: !needS3})
		if err != nil {
			return err
		}
		if needDB {
			cfg.MongoURI = a.stack.MongoURI
			a.log.Info("embedded database started", "dir", filepath.Join(dir, "db"))
		}
		if needS3 {
			cfg.S3Endpoint, cfg.S3AccessKey, cfg.S3SecretKey = a.stack.S3Endpoint, a.stack.S3AccessKey, a.stack.S3SecretKey
			a.log.Info("embedded object store started", "endpoint", cfg.S3Endpoint, "dir", filepath.Join(dir, "objects"))
		}
	}
	var err error
	mopts := mongodb.Options{Collections: field.Registry()}
	if cfg.DebugAddr != "" {
		dbCommands = mongodb.NewCommandCounter()
		mopts.Monitor = dbCommands
	}
	a.store, err = mongodb.Open(ctx, cfg.MongoURI, cfg.MongoDB, mopts)
	if err != nil {
		return err
	}
	if err := a.store.EnsureIndexes(ctx); err != nil {
		return err
	}
	if a.auth, err = openAuth(cfg, a.store, a.log); err != nil {
		return err
	}
	if cfg.Auth.KeyFile == "" {
		kctx, cancel := context.WithCancel(context.Background())
		a.stopKeys = cancel
		go reloadKeys(kctx, cfg.Auth, a.auth.Keys(), a.log)
	}
	// The engine asks the media service who may cite a photo, and the media
	// service asks the engine which records cite one: the engine forwards to
	// the service built after it.
	cites := fieldsync.CiteCheckerFunc(func(ctx context.Context, c *fieldsync.Caller, ids []string) (map[string]fieldsync.CiteRule, error) {
		return a.media.CiteRules(ctx, c, ids)
	})
	if a.engine, err = fsync.Open(ctx, a.store.Sync(), fsync.Options{Logger: a.log, Collections: a.fieldCollections(),
		Retention: cfg.SyncRetention, AuditRetention: cfg.AuditRetention, Cites: cites,
		Instance: cfg.instance, MaxSubscriptions: cfg.EventStreams}); err != nil {
		return err
	}
	a.objects, err = media.OpenObjectStore(media.ObjectStoreOptions{
		Endpoint: cfg.S3Endpoint, AccessKey: cfg.S3AccessKey, SecretKey: cfg.S3SecretKey,
		Bucket: cfg.S3Bucket, Secure: cfg.S3Secure, PublicEndpoint: cfg.S3PublicEnd,
	})
	if err != nil {
		return err
	}
	if err := a.objects.EnsureBucket(ctx); err != nil {
		// The API still serves records while the object store is down; /readyz says so.
		a.log.Warn("object store not ready", "err", err)
	}
	a.openMedia()
	return nil
}

// openMedia builds the photo-evidence service; the sync engine tells it
// which records cite a photo.
func (a *App) openMedia() {
	m := a.cfg.Media
	a.mediaStore = mongodb.NewMediaStore(a.store)
	a.media = media.NewService(a.mediaStore, a.objects, a.engine, media.Options{
		MaxBytes: m.MaxBytes, MaxBytesByKind: m.MaxBytesByKind, UploadExpiry: m.UploadExpiry, DownloadExpiry: m.DownloadExpiry,
		CleanupAge: m.CleanupAge, CleanupInterval: m.CleanupInterval, Logger: a.log,
		Labels: stampLabels{a.engine}, StampFont: m.StampFont, Collections: field.Registry(),
	})
}

// stampLabels names sites on stamped images from the synced sites records.
type stampLabels struct{ engine *fsync.Engine }

// errFound stops a walk of records once the one sought is found.
var errFound = errors.New("found")

// StampLabels implements media.Labeler: the site's name (one walk of the
// tenant's sites, reference data of a few records) and the citing record's
// place — its location, else building and unit, and its checkpoint's name —
// read by key.
func (l stampLabels) StampLabels(ctx context.Context, tenant, site string, ref *fieldsync.RecordRef) (string, string, error) {
	var name string
	err := l.engine.Records(ctx, tenant, fieldsync.CollSites, func(r *fsync.Record) error {
		if r.ID == site || r.SiteID == site {
			name = r.GetString("name")
			return errFound
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		return "", "", err
	}
	if ref == nil {
		return name, "", nil
	}
	rec, err := l.engine.Record(ctx, tenant, ref.Collection, ref.ID)
	if fieldsync.ErrorCode(err) == fieldsync.ENotFound {
		return name, "", nil
	} else if err != nil {
		return "", "", err
	}
	return name, recordPlace(ctx, l.engine, tenant, rec), nil
}

// recordPlace says where a record is: its location, else its building and
// unit; and the name of its checkpoint when it names one.
func recordPlace(ctx context.Context, e *fsync.Engine, tenant string, r *fsync.Record) string {
	place := r.GetString("location")
	if place == "" {
		place = strings.TrimSpace(r.GetString("building") + " " + r.GetString("unit"))
	}
	if id := r.GetString("checkpoint_id"); id != "" {
		if cp, err := e.Record(ctx, tenant, fieldsync.CollCheckpoints, id); err == nil && cp.SiteID == r.SiteID {
			place = strings.TrimSpace(place + " · " + cp.GetString("name"))
			place = strings.TrimPrefix(place, "· ")
		}
	}
	return place
}

// openAuth loads the token keys (configured files, or the key directory,
// generating the first key there) and builds the auth service.
func openAuth(cfg *Config, store *mongodb.Store, log *slog.Logger) (*auth.Service, error) {
	ac := cfg.Auth
	var keys *auth.KeySet
	var err error
	if ac.KeyFile != "" {
		if keys, err = auth.LoadKeyFiles(ac.KeyFile, ac.PreviousKeys); err != nil {
			return nil, fmt.Errorf("config: FIELDSYNC_JWT_KEY_FILE: %w", err)
		}
	} else if keys, err = auth.LoadKeyDir(ac.KeyDir, ac.AccessTTL, time.Now()); err != nil {
		return nil, fmt.Errorf("config: FIELDSYNC_JWT_KEY_DIR=%q: %w", ac.KeyDir, err)
	}
	log.Info("token signing key", "kid", keys.Signer().ID)
	return auth.New(auth.Options{
		Store: store, Keys: keys, Logger: log, DefaultTenant: cfg.DefaultTenant,
		AccessTTL: ac.AccessTTL, RefreshTTL: ac.RefreshTTL, ReuseGrace: ac.ReuseGrace, CacheTTL: ac.CacheTTL,
		Throttle: auth.ThrottleOptions{PerUser: ac.MaxFailsUser, PerAddr: ac.MaxFailsAddr, PerAccount: ac.MaxFailsAcct, Window: ac.ThrottleWindow},
	}), nil
}

// instanceName is the sync engine's name for this server across restarts:
// FIELDSYNC_INSTANCE_ID, else the host (name and machine id) and the listen
// address, which this process holds while it lives — so no other live server
// shares the name, and a restart on the same address recognises the
// reservations its dead predecessor left. A random port (":0") names nothing:
// a dead run's reservations then expire (fsync.DefaultTTL).
func instanceName(cfg Config) string {
	if cfg.InstanceID != "" {
		return cfg.InstanceID
	}
	if _, port, err := net.SplitHostPort(cfg.Addr); err != nil || port == "0" || port == "" {
		return ""
	}
	host, _ := os.Hostname()
	machine, _ := os.ReadFile("/etc/machine-id")
	return host + "/" + strings.TrimSpace(string(machine)) + "/" + cfg.Addr
}

// reloadKeys re-reads the key directory every ac.KeyReload (auth.KeyReload
// unless configured), so a key added by `fieldsync keys rotate` is published
// by every instance before any signs with it.
func reloadKeys(ctx context.Context, ac AuthConfig, keys *auth.KeySet, log *slog.Logger) {
	t := time.NewTicker(cmp.Or(ac.KeyReload, auth.KeyReload))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		next, err := auth.LoadKeyDir(ac.KeyDir, ac.AccessTTL, time.Now())
		if err != nil {
			log.Warn("token keys not reloaded", "dir", ac.KeyDir, "err", err)
			continue
		}
		if old := keys.Signer().ID; next.Signer().ID != old {
			log.Info("token signing key rotated", "kid", next.Signer().ID, "previous", old)
		}
		keys.Replace(next)
	}
}

// Server builds the HTTP API on the app's services.
func (a *App) Server() *api.Server {
	return api.New(api.Options{
		Logger:         a.log,
		Version:        version,
		Ready:          map[string]api.Pinger{"database": a.store, "object_store": a.objects},
		Auth:           a.auth,
		Reports:        &mongodb.Reports{Store: a.store},
		Sync:           a.engine,
		Audit:          a.engine,
		Units:          &field.UnitService{Engine: a.engine},
		Settings:       &mongodb.Settings{Store: a.store},
		PendingMedia:   a.mediaStore.CountPending,
		Media:          a.media,
		FirstRun:       a.firstRun,
		AddressLimit:   a.cfg.RateAddress,
		DeviceLimit:    a.cfg.RateDevice,
		TrustedProxies: a.cfg.TrustedProxies,
	})
}

// Close disconnects and stops the embedded stores.
func (a *App) Close() {
	if a.stopKeys != nil {
		a.stopKeys()
	}
	if a.store != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = a.store.Close(ctx)
		cancel()
	}
	if a.stack != nil {
		a.stack.Close()
	}
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: cfg.LogLevel}))
}

// runServe serves until ctx ends (SIGINT/SIGTERM), then stops accepting,
// finishes in-flight requests and stops the embedded stores.
func runServe(ctx context.Context, cfg Config, stderr io.Writer) error {
	log := newLogger(cfg, stderr)
	raiseOpenFiles(log)
	// Listen first: holding the address proves no other live server on this
	// host has this instance's name when the engine releases the
	// reservations its previous run left (fsync.Options.Instance).
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	defer ln.Close()
	cfg.instance = instanceName(cfg)
	app, err := OpenApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer app.Close()
	if cfg.DebugAddr != "" {
		stopDebug, err := startDebug(cfg.DebugAddr, log)
		if err != nil {
			return err
		}
		defer stopDebug()
	}
	if err := app.startJobs(ctx); err != nil {
		return err
	}
	setup, token, err := openFirstRun(ctx, app)
	if err != nil {
		return err
	}
	if setup != nil {
		app.firstRun = setup
		log.Warn("first-run setup: no user yet; open this URL on this machine within an hour to create the first admin", "url", setupURL(ln.Addr(), token), "expires_at", setup.expires.UTC().Format(time.RFC3339))
	}
	srv := app.Server()
	log.Info("fieldsync serving", "addr", ln.Addr().String(), "version", version, "pid", os.Getpid(), "instance", cfg.instance)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	go app.media.Run(sweepCtx)
	go app.store.WatchEmbeddedSize(sweepCtx, log)
	defer app.media.Wait()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", cfg.ShutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	log.Info("stopped")
	return nil
}

func runSeedDemo(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	app, err := OpenApp(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer app.Close()
	return seedDemo(ctx, app, stdout)
}

func runUserAdd(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	app, err := OpenApp(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer app.Close()
	return userAdd(ctx, app, args, stdout)
}
