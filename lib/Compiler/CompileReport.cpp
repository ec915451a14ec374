//===- CompileReport.cpp - the --report JSON of attn-compile --------------===//
//
// One entry per attention op, plus the KV-cache footprint: for each op,
// kv_heads * (head_dim * sizeof(K element) + v_head_dim * sizeof(V element))
// bytes per token (the K and V that one token adds to one sequence's cache),
// summed over the ops. The "_before" variant uses `kv_heads_before`, which
// `share-kv` records as the op attribute `attn.kv_heads_before`.
//
// Each entry also states how the op is served: its window (left, right;
// null for an unbounded side), and for attn.decode the cache element type,
// layout (contiguous with its capacity, or paged with its page size and
// pages per row) and the form of its position (one for the batch, or one
// per row). Attributes that this file does not know (added to the ops
// later) are listed as they print under "attributes", so the report never
// hides part of an op's meaning. Ops share-kv converted say where it
// shared them (projection weights or activations) and what the K/V
// projections cost before and after.
//
//===----------------------------------------------------------------------===//

#include "attn/Compiler/CompileReport.h"

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include <array>

using namespace mlir;
using namespace mlir::attn::compile;

namespace {


int64_t elementBytes(ShapedType type) {
  return (type.getElementTypeBitWidth() + 7) / 8;
}

struct Entry {
  llvm::json::Object json;
  int64_t kvBytes = 0, kvBytesBefore = 0;
  /// The K/V projections' cost (share-kv), when known.
  std::optional<std::array<int64_t, 4>> projections;
};

/// How share-kv shared the op's KV heads (`attn.kv_projections`):
/// at the projection weights or on the activations (and why), where the
/// query and output maps went, and the K and V projections' FLOPs per
/// token and weight bytes before and after.
void describeSharing(Operation *op, Entry &e) {
  auto sharing = op->getAttrOfType<DictionaryAttr>("attn.kv_projections");
  if (!sharing)
    return;
  llvm::json::Object json;
  for (NamedAttribute field : sharing) {
    if (auto text = dyn_cast<StringAttr>(field.getValue()))
      json[field.getName().getValue()] = text.str();
    else if (auto n = dyn_cast<IntegerAttr>(field.getValue()))
      json[field.getName().getValue()] = n.getInt();
  }
  auto get = [&](StringRef name) -> std::optional<int64_t> {
    if (auto n = sharing.getAs<IntegerAttr>(name))
      return n.getInt();
    return std::nullopt;
  };
  auto fb = get("flops_per_token_before"), f = get("flops_per_token"),
       bb = get("weight_bytes_before"), b = get("weight_bytes");
  if (fb && f && bb && b)
    e.projections = std::array<int64_t, 4>{*fb, *f, *bb, *b};
  e.json["share_kv"] = std::move(json);
}

/// An attention that attn-absorb-latent-projections rewrote to attend over
/// an MLA latent (`attn.latent`): its form, and the bytes a token really
/// adds to the cache, latent + rotary key stored once (its key operand
/// concatenates them and its value is the latent, so counting K and V would
/// count the latent twice). The model cached the latent before, too.
void describeLatent(Operation *op, ShapedType key, Entry &e) {
  auto latent = op->getAttrOfType<DictionaryAttr>("attn.latent");
  if (!latent)
    return;
  auto get = [&](StringRef name) -> int64_t {
    auto v = latent.getAs<IntegerAttr>(name);
    return v ? v.getInt() : 0;
  };
  int64_t bytes = (get("rank") + get("rope_dim")) * elementBytes(key);
  e.json["latent"] = llvm::json::Object{
      {"rank", get("rank")},
      {"rope_dim", get("rope_dim")},
      {"heads_before", get("heads_before")},
      {"head_dim_before", get("head_dim_before")},
      {"v_head_dim_before", get("v_head_dim_before")},
      {"cache_bytes_per_token", bytes}};
  e.kvBytes = e.kvBytesBefore = bytes;
  // Converted from MHA/GQA (attn-share-kv-latent): the cache held K and V.
  if (latent.get("converted"))
    e.kvBytesBefore = get("heads_before") *
                      (get("head_dim_before") + get("v_head_dim_before")) *
                      elementBytes(key);
}

Entry describe(Operation *op, int64_t qHeads, int64_t kvHeads, ShapedType key,
               ShapedType value, bool causal, bool fusedDecode) {
  Entry e;
  int64_t kvHeadsBefore = kvHeads;
  if (auto before = op->getAttrOfType<IntegerAttr>("attn.kv_heads_before"))
    kvHeadsBefore = before.getInt();
  std::string source = "mlir";
  if (auto src = op->getAttrOfType<StringAttr>("attn.source"))
    source = src.str();
  int64_t headDim = key.getRank() == 4 ? key.getDimSize(3) : -1;
  int64_t vHeadDim = value.getRank() == 4 ? value.getDimSize(3) : -1;
  auto dim = [](int64_t d) -> llvm::json::Value {
    if (ShapedType::isDynamic(d) || d < 0)
      return nullptr;
    return d;
  };
  e.json = llvm::json::Object{{"name", locationName(op->getLoc())},
                              {"op", op->getName().getStringRef()},
                              {"q_heads", qHeads},
                              {"kv_heads", kvHeads},
                              {"kv_heads_before", kvHeadsBefore},
                              {"head_dim", dim(headDim)},
                              {"v_head_dim", dim(vHeadDim)},
                              {"causal", causal},
                              {"fused_decode", fusedDecode},
                              {"source", source}};
  if (headDim >= 0 && vHeadDim >= 0 && !ShapedType::isDynamic(headDim) &&
      !ShapedType::isDynamic(vHeadDim)) {
    int64_t perHead = headDim * elementBytes(key) + vHeadDim * elementBytes(value);
    e.kvBytes = kvHeads * perHead;
    e.kvBytesBefore = kvHeadsBefore * perHead;
  }
  describeLatent(op, key, e);
  describeSharing(op, e);
  return e;
}

llvm::json::Value bound(IntegerAttr attr) {
  if (!attr || attr.getInt() < 0)
    return nullptr;
  return attr.getInt();
}

/// window: [left, right] (null for an unbounded side), or null without one.
llvm::json::Value window(IntegerAttr left, IntegerAttr right) {
  if (!left && !right)
    return nullptr;
  return llvm::json::Array{bound(left), bound(right)};
}

/// The op's attributes that the entry does not already state, printed.
void addOtherAttributes(Operation *op, llvm::json::Object &json) {
  static const llvm::StringLiteral known[] = {
      "q_heads",     "kv_heads",     "scale",
      "causal",      "causal_offset", "softcap",
      "window_left", "window_right", "ring",   "operandSegmentSizes"};
  llvm::json::Object other;
  for (NamedAttribute attr : op->getAttrs()) {
    StringRef name = attr.getName().getValue();
    if (llvm::is_contained(known, name) || name.starts_with("attn."))
      continue;
    if (isa<UnitAttr>(attr.getValue())) {
      other[name] = true;
      continue;
    }
    if (auto i = dyn_cast<IntegerAttr>(attr.getValue())) {
      other[name] = i.getInt();
      continue;
    }
    std::string text;
    llvm::raw_string_ostream os(text);
    attr.getValue().print(os);
    other[name] = text;
  }
  if (!other.empty())
    json["attributes"] = std::move(other);
}

/// How a decode op keeps its cache and reads its position.
void describeCache(mlir::attn::DecodeOp decode, llvm::json::Object &json) {
  std::string type;
  llvm::raw_string_ostream os(type);
  os << decode.getKeyCacheType().getElementType();
  json["cache_type"] = type;
  if (decode.hasQuantizedCache())
    json["cache_scales"] = "f32 per (batch row, KV head)";
  auto size = [](int64_t d) -> llvm::json::Value {
    if (ShapedType::isDynamic(d))
      return nullptr;
    return d;
  };
  ShapedType cache = decode.getKeyCacheType();
  if (decode.isPaged()) {
    auto table = cast<ShapedType>(decode.getBlockTable().getType());
    json["cache_layout"] = "paged";
    json["num_pages"] = size(cache.getDimSize(0));
    json["page_size"] = size(cache.getDimSize(2));
    json["max_pages"] = size(table.getDimSize(1));
  } else if (decode.isRing()) {
    // Position t lives in slot t % ring_slots; positions have no bound.
    json["cache_layout"] = "ring";
    json["ring_slots"] = size(cache.getDimSize(2));
  } else {
    json["cache_layout"] = "contiguous";
  }
  json["capacity"] =
      decode.isRing() ? llvm::json::Value(nullptr) : size(decode.getCacheCapacity());
  json["positions"] = decode.getPositions() ? "per-row" : "one";
  // A speculative-decode tree over the new tokens: per batch row or shared.
  if (Value tree = decode.getTreeMask())
    json["tree_mask"] =
        cast<ShapedType>(tree.getType()).getRank() == 3 &&
                cast<ShapedType>(tree.getType()).getDimSize(0) != 1
            ? "per-row"
            : "shared";
}

} // namespace

llvm::json::Object mlir::attn::compile::buildReport(ModuleOp module) {
  llvm::json::Array ops;
  int64_t kvBytes = 0, kvBytesBefore = 0;
  std::optional<std::array<int64_t, 4>> projections;
  module.walk([&](Operation *op) {
    std::optional<Entry> e;
    if (auto attention = dyn_cast<mlir::attn::AttentionOp>(op)) {
      e = describe(op, attention.getQHeads(), attention.getKvHeads(),
                   attention.getKeyType(), attention.getValueType(),
                   attention.isCausal(), /*fusedDecode=*/false);
      e->json["window"] = window(attention.getWindowLeftAttr(),
                                 attention.getWindowRightAttr());
      if (IntegerAttr offset = attention.getCausalOffsetAttr())
        e->json["causal_offset"] = offset.getInt();
      e->json["kv_lengths"] = attention.getKvSeqLens() ? "per-row" : "none";
    } else if (auto decode = dyn_cast<mlir::attn::DecodeOp>(op)) {
      // The bytes a token costs are the caches' (8-bit with --kv-cache-type).
      e = describe(op, decode.getQHeads(), decode.getKvHeads(),
                   decode.getKeyCacheType(), decode.getValueCacheType(),
                   decode.getCausal(), /*fusedDecode=*/true);
      e->json["window"] =
          window(decode.getWindowLeftAttr(), decode.getWindowRightAttr());
      describeCache(decode, e->json);
      // A latent decode's caches are the latent and the rotary key: its key
      // row is both (r + rope), its value row the latent (r).
      if (decode.isLatent()) {
        int64_t r = decode.getLatentAttr().getInt();
        e->json["head_dim"] = r + decode.getValueCacheType().getDimSize(3);
        e->json["v_head_dim"] = r;
      }
    }
    if (!e)
      return;
    addOtherAttributes(op, e->json);
    kvBytes += e->kvBytes;
    kvBytesBefore += e->kvBytesBefore;
    if (e->projections) {
      if (!projections)
        projections = std::array<int64_t, 4>{0, 0, 0, 0};
      for (int i = 0; i < 4; ++i)
        (*projections)[i] += (*e->projections)[i];
    }
    ops.push_back(std::move(e->json));
  });
  llvm::json::Object report{{"attention", std::move(ops)},
                            {"kv_cache_bytes_per_token", kvBytes},
                            {"kv_cache_bytes_per_token_before", kvBytesBefore}};
  // Summed over the ops share-kv converted whose K/V projections it found.
  if (projections) {
    report["kv_projection_flops_per_token_before"] = (*projections)[0];
    report["kv_projection_flops_per_token"] = (*projections)[1];
    report["kv_projection_weight_bytes_before"] = (*projections)[2];
    report["kv_projection_weight_bytes"] = (*projections)[3];
  }
  return report;
}

/// The op's name for people: the innermost NameLoc (an ONNX node name), else
/// "file:line:col".
std::string mlir::attn::compile::locationName(Location loc) {
  if (auto name = dyn_cast<NameLoc>(loc))
    return name.getName().str();
  if (auto fused = dyn_cast<FusedLoc>(loc)) {
    for (Location inner : fused.getLocations())
      if (isa<NameLoc>(inner))
        return locationName(inner);
    if (!fused.getLocations().empty())
      return locationName(fused.getLocations().front());
  }
  if (auto callSite = dyn_cast<CallSiteLoc>(loc))
    return locationName(callSite.getCallee());
  if (auto file = dyn_cast<FileLineColLoc>(loc))
    return (file.getFilename().str() + ":" + std::to_string(file.getLine()) +
            ":" + std::to_string(file.getColumn()));
  std::string text;
  llvm::raw_string_ostream os(text);
  loc.print(os);
  return text;
}
