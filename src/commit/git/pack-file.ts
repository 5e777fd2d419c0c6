// Writes objects as one pack (version 2, no deltas) with its index: how a repository's
// first commit is stored — a fresh agent's dozen files and trees in two files instead of
// a loose object each (1,000 agents start at once; each loose object is a folder, a temp
// file and a rename).
import { createHash } from "node:crypto";
import { open, rename } from "node:fs/promises";
import { join } from "node:path";
import { crc32, deflateSync } from "node:zlib";
import type { ObjectType } from "./objects.js";

const TYPE_CODE: Record<ObjectType, number> = { commit: 1, tree: 2, blob: 3 };

export interface PackedObject {
  oid: string;
  type: ObjectType;
  content: Buffer;
}

/** The pack entry header: type and size, 4 bits of size in the first byte, 7 in each next. */
function entryHeader(type: ObjectType, size: number): Buffer {
  const bytes: number[] = [];
  let byte = (TYPE_CODE[type] << 4) | (size & 0x0f);
  size = Math.floor(size / 16);
  while (size > 0) {
    bytes.push(byte | 0x80);
    byte = size & 0x7f;
    size = Math.floor(size / 128);
  }
  bytes.push(byte);
  return Buffer.from(bytes);
}

async function writeDurable(path: string, data: Buffer): Promise<void> {
  const fh = await open(path, "wx", 0o444);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes `objects` as `objects/pack/pack-<sha>.pack` and its `.idx`; the index last, so git never sees half a pack. */
export async function writePack(gitDir: string, objects: PackedObject[]): Promise<void> {
  const header = Buffer.alloc(12);
  header.write("PACK", 0, "latin1");
  header.writeUInt32BE(2, 4);
  header.writeUInt32BE(objects.length, 8);
  const parts: Buffer[] = [header];
  const entries: { oid: string; offset: number; crc: number }[] = [];
  let offset = 12;
  for (const o of objects) {
    const entry = Buffer.concat([entryHeader(o.type, o.content.length), deflateSync(o.content, { level: 1 })]);
    entries.push({ oid: o.oid, offset, crc: crc32(entry) });
    parts.push(entry);
    offset += entry.length;
  }
  const body = Buffer.concat(parts);
  const packSha = createHash("sha1").update(body).digest();
  const pack = Buffer.concat([body, packSha]);

  entries.sort((a, b) => (a.oid < b.oid ? -1 : 1));
  const fanout = Buffer.alloc(256 * 4);
  for (let b = 0, i = 0; b < 256; b++) {
    while (i < entries.length && parseInt(entries[i]!.oid.slice(0, 2), 16) <= b) i++;
    fanout.writeUInt32BE(i, b * 4);
  }
  const u32s = (values: number[]) => {
    const buf = Buffer.alloc(values.length * 4);
    values.forEach((v, i) => buf.writeUInt32BE(v >>> 0, i * 4));
    return buf;
  };
  // Offsets fit in 31 bits: a first commit is far below 2 GB.
  const idxBody = Buffer.concat([
    Buffer.from([0xff, 0x74, 0x4f, 0x63, 0, 0, 0, 2]),
    fanout,
    Buffer.concat(entries.map((e) => Buffer.from(e.oid, "hex"))),
    u32s(entries.map((e) => e.crc)),
    u32s(entries.map((e) => e.offset)),
    packSha,
  ]);
  const idx = Buffer.concat([idxBody, createHash("sha1").update(idxBody).digest()]);

  const base = join(gitDir, "objects", "pack", `pack-${packSha.toString("hex")}`);
  await writeDurable(`${base}.pack`, pack);
  await writeDurable(`${base}.idx.tmp`, idx);
  await rename(`${base}.idx.tmp`, `${base}.idx`);
}
