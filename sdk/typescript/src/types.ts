import type { components } from "./schema.js";

type Schemas = components["schemas"];

/** Collection is the name of a synced collection. */
export type Collection = Schemas["Collection"];

/** RecordOf is a record of collection C as the server sends it (record.<C>). */
export type RecordOf<C extends Collection> = `record.${C}` extends keyof Schemas ? Schemas[`record.${C}`] : never;

/** ActionOf is an action name of collection C (actions.<C>); never for reference data. */
export type ActionOf<C extends Collection> = `actions.${C}` extends keyof Schemas ? Schemas[`actions.${C}`] : never;

/** ActionArgs is the argument object of action A on collection C (action.<C>.<A>). */
export type ActionArgs<C extends Collection, A extends string> = `action.${C}.${A}` extends keyof Schemas
  ? Schemas[`action.${C}.${A}`]
  : never;

/** WritableFields are the fields of collection C a client may send in create and update. */
export type WritableFields<C extends Collection> = Partial<Omit<RecordOf<C>, "id" | "version" | "created_at" | "created_by" | "updated_at" | "updated_by" | "created_by_name" | "updated_by_name">>;

/** Mutation is one queued change as pushed (see POST /v1/sync/push). */
export type Mutation = Schemas["Mutation"];
/** MutationResult is the server's answer to one mutation. */
export type MutationResult = Schemas["MutationResult"];
/** Change is one entry of a pull page or the bootstrap stream. */
export type Change = Schemas["Change"];
/** PullPage is one answer of GET /v1/sync/pull. */
export type PullPage = Schemas["PullPage"];
/** SyncConfig is GET /v1/sync/config: the server's limits. */
export type SyncConfig = Schemas["SyncConfig"];
/** Tokens is the answer of login and refresh. */
export type Tokens = Schemas["Tokens"];
/** User is a user as the server describes them. */
export type User = Schemas["User"];
/** Media is a photo's metadata (POST/GET /v1/media). */
export type Media = Schemas["Media"];
/** MediaCreate is the announcement of a media (POST /v1/media). */
export type MediaCreate = Schemas["MediaCreate"];
/** MediaKind is the kind of evidence: photo, signature, video, audio, document. */
export type MediaKind = NonNullable<MediaCreate["kind"]>;
/** MultipartUpload is the state of a resumable upload (POST /v1/media/{id}/multipart). */
export type MultipartUpload = Schemas["MultipartUpload"];
/** Problem is an RFC 9457 problem document. */
export type Problem = Schemas["Problem"];

/** StoredRecord is a record of any collection as the replica keeps it. */
export type StoredRecord = { id: string; version: number; [field: string]: unknown };
