# Usage: python3 Tools/bench/make_large_checkpoint.py OUT.pt MEGABYTES  (for the checkpoint load-cost rows of README.md)
# Writes a torch.save-layout checkpoint (zip, stored, 64-byte aligned data, protocol-2 pickle) of
# float32 tensors without torch: fake torch modules make pickle emit the same globals.
import collections, io, pickle, struct, sys, types, zipfile, random
out, megabytes = sys.argv[1], int(sys.argv[2])
torch = types.ModuleType("torch"); utils = types.ModuleType("torch._utils")
sys.modules["torch"] = torch; sys.modules["torch._utils"] = utils
class FloatStorage: pass
FloatStorage.__module__ = "torch"; FloatStorage.__qualname__ = "FloatStorage"; torch.FloatStorage = FloatStorage
def _rebuild_tensor_v2(*a): pass
_rebuild_tensor_v2.__module__ = "torch._utils"; utils._rebuild_tensor_v2 = _rebuild_tensor_v2
class Storage:
    def __init__(self, key, n): self.key, self.n = key, n
class Tensor:
    def __init__(self, storage, shape): self.storage, self.shape = storage, shape
    def __reduce__(self):
        stride = tuple(int(eval("*".join(map(str, self.shape[i+1:])) or "1")) for i in range(len(self.shape)))
        return (_rebuild_tensor_v2, (self.storage, 0, self.shape, stride, False, collections.OrderedDict()))
class P(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage): return ("storage", FloatStorage, obj.key, "cpu", obj.n)
        return None
rows = 1024
per = 384 * rows * 4            # 1.5 MiB tensors
count = megabytes * (1 << 20) // per
state = collections.OrderedDict()
for i in range(count):
    state[f"image_encoder.trunk.blocks.{i}.mlp.layers.0.weight"] = Tensor(Storage(str(i), 384 * rows), (rows, 384))
buf = io.BytesIO(); P(buf, protocol=2).dump({"model": state})
rng = random.Random(1)
with open(out, "wb") as f:
    z = zipfile.ZipFile(f, "w", zipfile.ZIP_STORED)
    def add(name, data):
        info = zipfile.ZipInfo("big/" + name)
        offset = f.tell() + 30 + len(info.filename.encode())
        pad = (-(offset + 4)) % 64
        info.extra = struct.pack("<HH", 0x4246, pad) + b"Z" * pad
        z.writestr(info, data)
    add("data.pkl", buf.getvalue()); add("byteorder", b"little")
    block = bytes(rng.getrandbits(8) for _ in range(1 << 16))
    for i in range(count): add(f"data/{i}", (block * (per // len(block) + 1))[:per])
    add("version", b"3\n"); z.close()
print(out, count, "tensors")
