package mongodb

// IDOnly and DecodeIDOnly are what insertRegistry decodes a document's _id with.
var IDOnly, DecodeIDOnly = idOnly, decodeIDOnly
