export { FieldsyncClient } from "./client.js";
export type { ClientOptions, ClientEvents, ConflictEvent, RejectedEvent, ChangeEvent, SyncResult, UploadPhotoOptions } from "./client.js";
export { FieldsyncError, backoffDelay, parseRetryAfter } from "./http.js";
export type { RetryOptions } from "./http.js";
export { MemoryStorage, IndexedDBStorage } from "./storage.js";
export type { Storage, IndexedDBStorageOptions } from "./storage.js";
export { uuidv7 } from "./uuid.js";
export type * from "./types.js";
export type { components, paths, operations } from "./schema.js";
