//===- OutlineRepeats.cpp - one function per repeated segment (layer) -----===//
//
// A decoder's layers compile to the same code over different weights; every
// stage after this pass costs time per op, so N layers cost N times one. The
// pass cuts a function body at its anchor ops (one attention per layer),
// groups the pieces that are structurally equal modulo their live-ins (the
// weights among them) and calls one outlined function per group.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/WideningCopy.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringSet.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNOUTLINEREPEATS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

constexpr llvm::StringLiteral kOutlinedAttr = "attn.outlined";

/// Values computed from constants alone by ops without side effects. They are
/// not cut into segments: a segment that needs one either recomputes it (all
/// members share it) or takes it as an argument.
class ClosedValues {
public:
  bool contains(Value v) {
    Operation *def = v.getDefiningOp();
    return def && containsOp(def);
  }
  bool containsOp(Operation *op) {
    auto it = memo.find(op);
    if (it != memo.end())
      return it->second;
    // Cycles cannot occur (SSA in a block); mark first for safety anyway.
    memo[op] = false;
    bool closed = op->getNumSuccessors() == 0 &&
                  !op->hasTrait<OpTrait::IsTerminator>() &&
                  isMemoryEffectFree(op) &&
                  llvm::all_of(op->getOperands(),
                               [&](Value v) { return contains(v); });
    if (closed && op->getNumRegions()) {
      llvm::SetVector<Value> above;
      getUsedValuesDefinedAbove(op->getRegions(), above);
      closed = llvm::all_of(above, [&](Value v) { return contains(v); });
    }
    memo[op] = closed;
    return closed;
  }

private:
  DenseMap<Operation *, bool> memo;
};

using ValueCheck = function_ref<bool(Value, Value)>;

/// Whether `a` and `b` are the same op with the same attributes, types and
/// regions, their operands related by `check` (values defined inside them
/// are recorded in `inside` and must correspond). Every other operand pair,
/// the same value or not, goes to `check`, which collects a segment's
/// live-ins.
bool sameOp(Operation *a, Operation *b, DenseMap<Value, Value> &inside,
            ValueCheck check) {
  if (a->getName() != b->getName() ||
      a->getNumOperands() != b->getNumOperands() ||
      a->getNumResults() != b->getNumResults() ||
      a->getNumRegions() != b->getNumRegions() ||
      a->getNumSuccessors() || b->getNumSuccessors() ||
      a->getDiscardableAttrDictionary() != b->getDiscardableAttrDictionary() ||
      !a->getName().compareOpProperties(a->getPropertiesStorage(),
                                        b->getPropertiesStorage()))
    return false;
  for (auto [x, y] : llvm::zip(a->getOperands(), b->getOperands())) {
    if (x.getType() != y.getType())
      return false;
    auto it = inside.find(x);
    if (it != inside.end() ? it->second != y : !check(x, y))
      return false;
  }
  for (auto [x, y] : llvm::zip(a->getResults(), b->getResults())) {
    if (x.getType() != y.getType())
      return false;
    inside[x] = y;
  }
  for (auto [ra, rb] : llvm::zip(a->getRegions(), b->getRegions())) {
    if (ra.getBlocks().size() != rb.getBlocks().size())
      return false;
    for (auto [ba, bb] : llvm::zip(ra, rb)) {
      if (ba.getNumArguments() != bb.getNumArguments() ||
          ba.getOperations().size() != bb.getOperations().size())
        return false;
      for (auto [x, y] : llvm::zip(ba.getArguments(), bb.getArguments())) {
        if (x.getType() != y.getType())
          return false;
        inside[x] = y;
      }
      for (auto [oa, ob] : llvm::zip(ba, bb))
        if (!sameOp(&oa, &ob, inside, check))
          return false;
    }
  }
  return true;
}

/// Whether closed values `a` and `b` compute the same thing (same ops and
/// attributes all the way down to their constants).
bool sameClosedValue(Value a, Value b, unsigned depth = 0) {
  if (a == b)
    return true;
  auto ra = dyn_cast<OpResult>(a), rb = dyn_cast<OpResult>(b);
  if (!ra || !rb || ra.getResultNumber() != rb.getResultNumber() ||
      depth > 64)
    return false;
  DenseMap<Value, Value> inside;
  return sameOp(ra.getOwner(), rb.getOwner(), inside, [&](Value x, Value y) {
    return sameClosedValue(x, y, depth + 1);
  });
}

/// A closed value cheap enough to recompute in every call of an outlined
/// function: a constant, an op without operands (tensor.empty), or a fill of
/// such. Anything else shared by all members (say, a mask computed from
/// constants) is computed once by the caller and passed.
bool isCheap(Value v) {
  Operation *def = v.getDefiningOp();
  if (!def || def->hasTrait<OpTrait::ConstantLike>() ||
      (def->getNumOperands() == 0 && def->getNumRegions() == 0))
    return def != nullptr;
  return isa<linalg::FillOp>(def) &&
         llvm::all_of(def->getOperands(), [](Value x) { return isCheap(x); });
}

/// A constant that the generated code reads from memory anyway (a weight):
/// a non-splat tensor. Such constants may differ between the members of a
/// group; a scalar or splat constant folds into the code, so it may not.
bool isWeight(Value v) {
  ElementsAttr attr;
  if (!matchPattern(v, m_Constant(&attr)))
    return false;
  if (auto dense = dyn_cast<DenseElementsAttr>(attr))
    if (dense.isSplat())
      return false;
  return attr.getNumElements() > 1;
}

/// The narrow weight that `v` widens, or null: `v` is an elementwise
/// linalg.generic whose only input is a weight, whose init is cheap and
/// whose body is one arith.extf (an ONNX Cast of an f16/bf16 initializer).
/// Such a value is not passed to an outlined layer: the layer takes the
/// narrow weight and widens it itself, where the contraction lowering reads
/// the narrow weight in place of the widened copy (half the bytes per step).
/// Passed widened, the caller would write an f32 copy of every weight on
/// every call and the layer would read twice the bytes.
Value widenedWeight(Value v) {
  auto generic = v.getDefiningOp<linalg::GenericOp>();
  if (!generic || generic->getNumResults() != 1 || !isWideningCopy(generic))
    return nullptr;
  Value narrow = generic.getDpsInputOperand(0)->get();
  if (!isWeight(narrow) || !isCheap(generic.getDpsInitOperand(0)->get()))
    return nullptr;
  return narrow;
}

/// Whether widened weights `a` and `b` widen the same way (their narrow
/// weights may differ, as the plain weights of two layers do).
bool sameWidening(Value a, Value b) {
  if (!widenedWeight(a) || !widenedWeight(b))
    return false;
  DenseMap<Value, Value> inside;
  return sameOp(a.getDefiningOp(), b.getDefiningOp(), inside,
                [](Value x, Value y) {
                  return sameClosedValue(x, y) || (isWeight(x) && isWeight(y));
                });
}

/// A contiguous run [begin, end) of the cut ops of a block.
struct Segment {
  unsigned begin = 0, end = 0;
  unsigned size() const { return end - begin; }
};

/// How a member of a group binds the group's live-ins, in the order of the
/// representative's first uses.
struct Binding {
  Segment segment;
  SmallVector<Value> liveIns;
};

enum class LiveIn { Pass, Recompute, Widen };

struct Group {
  SmallVector<Binding> members;
  /// Planned before any group is outlined (outlining one group erases ops
  /// whose results another group's live-ins may be): per live-in slot,
  /// how it reaches the outlined function: passed, recomputed inside
  /// (cheap, closed and the same for all members), or a widened weight
  /// whose narrow weight is passed and widened inside; (op index, result
  /// number) of the results returned.
  SmallVector<LiveIn> liveIns;
  SmallVector<Type> argTypes;
  SmallVector<std::pair<unsigned, unsigned>> outputs;
};

class Outliner {
public:
  Outliner(func::FuncOp func, ArrayRef<std::string> anchors, int64_t minOps,
           SymbolTable &symbols)
      : func(func), anchors(anchors), minOps(minOps), symbols(symbols) {}

  void run();

private:
  SmallVector<Segment> findSegments();
  bool match(const Segment &rep, const Segment &other, Binding &repBinding,
             Binding &otherBinding);
  SmallVector<std::pair<unsigned, unsigned>> escapingResults(const Group &g);
  void plan(Group &group);
  void outline(Group &group, unsigned index);
  /// `v`, or the call result that replaced it.
  Value current(Value v) const { return replaced.lookup_or(v, v); }
  bool isAnchor(Operation *op) const {
    return llvm::is_contained(anchors, op->getName().getStringRef());
  }

  func::FuncOp func;
  ArrayRef<std::string> anchors;
  int64_t minOps;
  SymbolTable &symbols;
  ClosedValues closed;
  /// The ops of the body that segments are made of.
  SmallVector<Operation *> ops;
  /// Outputs of outlined segments -> the calls' results: a live-in of a
  /// later segment may be one.
  DenseMap<Value, Value> replaced;
  Operation *lastOutlined = nullptr;
};

SmallVector<Segment> Outliner::findSegments() {
  SmallVector<unsigned> at;
  for (auto [i, op] : llvm::enumerate(ops))
    if (isAnchor(op))
      at.push_back(i);
  if (at.size() < 2)
    return {};
  unsigned minGap = ~0u;
  for (unsigned i = 1; i < at.size(); ++i)
    minGap = std::min(minGap, at[i] - at[i - 1]);
  // Shift every cut back while the ops in front of all anchors agree, so
  // that segments start where layers start (and the tail after the last
  // layer is not taken for part of one).
  auto key = [](Operation *op) {
    return OperationEquivalence::computeHash(
        op, OperationEquivalence::ignoreHashValue,
        OperationEquivalence::ignoreHashValue,
        OperationEquivalence::IgnoreLocations);
  };
  unsigned shift = 0;
  while (shift + 1 < minGap && shift + 1 <= at.front()) {
    llvm::hash_code k = key(ops[at.front() - shift - 1]);
    if (!llvm::all_of(at, [&](unsigned a) {
          return key(ops[a - shift - 1]) == k;
        }))
      break;
    ++shift;
  }
  SmallVector<Segment> segments;
  for (unsigned i = 0; i + 1 < at.size(); ++i)
    segments.push_back({at[i] - shift, at[i + 1] - shift});
  unsigned lastBegin = at.back() - shift;
  unsigned lastEnd = std::min<unsigned>(
      ops.size(), lastBegin + segments.back().size());
  segments.push_back({lastBegin, lastEnd});
  return segments;
}

/// Whether `other` does what `rep` does, and how their live-ins correspond.
bool Outliner::match(const Segment &rep, const Segment &other,
                     Binding &repBinding, Binding &otherBinding) {
  if (rep.size() != other.size())
    return false;
  repBinding = {rep, {}};
  otherBinding = {other, {}};
  DenseSet<Operation *> insideOther(ops.begin() + other.begin,
                                    ops.begin() + other.end);
  // Values of `rep` defined inside it -> the corresponding ones of `other`.
  DenseMap<Value, Value> inside;
  DenseMap<Value, unsigned> repSlot, otherSlot;
  auto definedInOther = [&](Value v) {
    Operation *owner = isa<BlockArgument>(v)
                           ? cast<BlockArgument>(v).getOwner()->getParentOp()
                           : v.getDefiningOp();
    while (owner && owner != func && !insideOther.contains(owner))
      owner = owner->getParentOp();
    return owner && owner != func;
  };
  auto check = [&](Value a, Value b) -> bool {
    if (definedInOther(b))
      return false;
    // A live-in: the same slot on both sides, or a new one on both.
    auto [ia, newA] = repSlot.try_emplace(a, repBinding.liveIns.size());
    auto [ib, newB] = otherSlot.try_emplace(b, repBinding.liveIns.size());
    if (newA != newB)
      return false;
    if (!newA)
      return ia->second == ib->second;
    repBinding.liveIns.push_back(a);
    otherBinding.liveIns.push_back(b);
    bool closedA = closed.contains(a), closedB = closed.contains(b);
    if (closedA != closedB)
      return false;
    return !closedA || sameClosedValue(a, b) ||
           (isWeight(a) && isWeight(b)) || sameWidening(a, b);
  };
  for (unsigned i = 0; i < rep.size(); ++i)
    if (!sameOp(ops[rep.begin + i], ops[other.begin + i], inside, check))
      return false;
  return true;
}

/// (op index in the segment, result number) of every result that some
/// member uses after its segment.
SmallVector<std::pair<unsigned, unsigned>>
Outliner::escapingResults(const Group &g) {
  llvm::SetVector<std::pair<unsigned, unsigned>> found;
  Block *block = &func.getBody().front();
  for (const Binding &m : g.members) {
    DenseSet<Operation *> in(ops.begin() + m.segment.begin,
                             ops.begin() + m.segment.end);
    for (unsigned i = 0; i < m.segment.size(); ++i)
      for (OpResult r : ops[m.segment.begin + i]->getResults())
        for (Operation *user : r.getUsers())
          if (!in.contains(block->findAncestorOpInBlock(*user)))
            found.insert({i, r.getResultNumber()});
  }
  SmallVector<std::pair<unsigned, unsigned>> sorted(found.begin(),
                                                    found.end());
  llvm::sort(sorted);
  return sorted;
}

void Outliner::plan(Group &group) {
  const Binding &rep = group.members.front();
  for (auto [s, value] : llvm::enumerate(rep.liveIns)) {
    bool same = closed.contains(value) && isCheap(value) &&
                llvm::all_of(group.members, [&](const Binding &m) {
                  return sameClosedValue(value, m.liveIns[s]);
                });
    if (same) {
      group.liveIns.push_back(LiveIn::Recompute);
    } else if (Value narrow = widenedWeight(value);
               narrow && llvm::all_of(group.members, [&](const Binding &m) {
                 return sameWidening(value, m.liveIns[s]);
               })) {
      group.liveIns.push_back(LiveIn::Widen);
      group.argTypes.push_back(narrow.getType());
    } else {
      group.liveIns.push_back(LiveIn::Pass);
      group.argTypes.push_back(value.getType());
    }
  }
  group.outputs = escapingResults(group);
}

void Outliner::outline(Group &group, unsigned index) {
  const Binding &rep = group.members.front();
  unsigned numSlots = rep.liveIns.size();
  ArrayRef<LiveIn> liveIns = group.liveIns;
  ArrayRef<std::pair<unsigned, unsigned>> outputs = group.outputs;
  SmallVector<Type> resultTypes;
  for (auto [i, r] : outputs)
    resultTypes.push_back(
        ops[rep.segment.begin + i]->getResult(r).getType());

  MLIRContext *ctx = func.getContext();
  OpBuilder b(ctx);
  // After the function and the ones outlined from it before, in order.
  b.setInsertionPointAfter(lastOutlined ? lastOutlined : func.getOperation());
  auto callee = func::FuncOp::create(
      b, func.getLoc(), (func.getSymName() + "_repeat" + Twine(index)).str(),
      b.getFunctionType(group.argTypes, resultTypes));
  callee.setPrivate();
  callee->setAttr(kOutlinedAttr, UnitAttr::get(ctx));
  // One copy of the layer is the point: nothing may inline it back. MLIR's
  // inliner reads no_inline; the LLVM function gets `noinline` from the
  // passthrough attribute, which convert-func-to-llvm carries over.
  callee.setNoInline(true);
  callee->setAttr("passthrough",
                  b.getArrayAttr({b.getStringAttr("noinline")}));
  symbols.insert(callee);
  lastOutlined = callee;
  Block *body = callee.addEntryBlock();
  b.setInsertionPointToStart(body);

  IRMapping map;
  unsigned arg = 0;
  for (unsigned s = 0; s < numSlots; ++s) {
    if (liveIns[s] == LiveIn::Pass)
      map.map(current(rep.liveIns[s]), body->getArgument(arg++));
    else if (liveIns[s] == LiveIn::Widen)
      map.map(widenedWeight(rep.liveIns[s]), body->getArgument(arg++));
  }
  // Recompute the shared closed values, operands (and values their regions
  // capture) first.
  std::function<void(Value)> recomputeValue = [&](Value v) {
    if (map.contains(v))
      return;
    Operation *def = v.getDefiningOp();
    for (Value operand : def->getOperands())
      recomputeValue(operand);
    llvm::SetVector<Value> above;
    getUsedValuesDefinedAbove(def->getRegions(), above);
    for (Value captured : above)
      recomputeValue(captured);
    b.clone(*def, map);
  };
  for (unsigned s = 0; s < numSlots; ++s)
    if (liveIns[s] != LiveIn::Pass)
      recomputeValue(rep.liveIns[s]);
  for (unsigned i = rep.segment.begin; i < rep.segment.end; ++i)
    b.clone(*ops[i], map);
  SmallVector<Value> returned;
  for (auto [i, r] : outputs)
    returned.push_back(map.lookup(ops[rep.segment.begin + i]->getResult(r)));
  func::ReturnOp::create(b, func.getLoc(), returned);

  for (const Binding &m : group.members) {
    SmallVector<Value> operands;
    for (unsigned s = 0; s < numSlots; ++s) {
      if (liveIns[s] == LiveIn::Pass)
        operands.push_back(current(m.liveIns[s]));
      else if (liveIns[s] == LiveIn::Widen)
        operands.push_back(widenedWeight(m.liveIns[s]));
    }
    Operation *last = ops[m.segment.end - 1];
    b.setInsertionPointAfter(last);
    auto call = func::CallOp::create(b, ops[m.segment.begin]->getLoc(),
                                     callee, operands);
    call.setNoInline(true);
    DenseSet<Operation *> in(ops.begin() + m.segment.begin,
                             ops.begin() + m.segment.end);
    Block *block = last->getBlock();
    for (auto [n, out] : llvm::enumerate(outputs)) {
      Value old = ops[m.segment.begin + out.first]->getResult(out.second);
      replaced[old] = call.getResult(n);
      old.replaceUsesWithIf(call.getResult(n), [&](OpOperand &use) {
        return !in.contains(block->findAncestorOpInBlock(*use.getOwner()));
      });
    }
    for (unsigned i = m.segment.end; i > m.segment.begin; --i)
      ops[i - 1]->erase();
    // The caller's widened copies have no reader left (unless the code
    // after the layers reads them too).
    for (unsigned s = 0; s < numSlots; ++s) {
      Operation *widening = m.liveIns[s].getDefiningOp();
      if (liveIns[s] != LiveIn::Widen || !widening->use_empty())
        continue;
      SmallVector<Value> inputs(widening->getOperands());
      widening->erase();
      for (Value input : inputs)
        if (Operation *def = input.getDefiningOp(); def && def->use_empty())
          def->erase();
    }
  }
}

void Outliner::run() {
  if (!func.getBody().hasOneBlock())
    return;
  for (Operation &op : func.getBody().front().without_terminator())
    if (!closed.containsOp(&op))
      ops.push_back(&op);
  SmallVector<Segment> segments = findSegments();
  SmallVector<Group, 0> groups;
  for (const Segment &s : segments) {
    if (int64_t(s.size()) < minOps)
      continue;
    bool placed = false;
    for (Group &g : groups) {
      Binding repBinding, binding;
      if (!match(g.members.front().segment, s, repBinding, binding))
        continue;
      if (g.members.size() == 1)
        g.members.front() = repBinding;
      g.members.push_back(binding);
      placed = true;
      break;
    }
    if (!placed)
      groups.push_back({{Binding{s, {}}}});
  }
  llvm::erase_if(groups, [](const Group &g) { return g.members.size() < 2; });
  for (Group &g : groups)
    plan(g);
  // Segments are disjoint: `ops` keeps pointing at live ops until their own
  // group is outlined.
  for (auto [index, g] : llvm::enumerate(groups))
    outline(g, index);
}

struct AttnOutlineRepeatsPass
    : attn::impl::AttnOutlineRepeatsBase<AttnOutlineRepeatsPass> {
  using Base::Base;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<std::string> anchors(anchorOps.begin(), anchorOps.end());
    if (anchors.empty())
      anchors = {"attn.decode", "attn.attention"};
    SymbolTable symbols(module);
    SmallVector<func::FuncOp> funcs;
    for (auto func : module.getOps<func::FuncOp>())
      if (!func.isExternal() && !func->hasAttr(kOutlinedAttr))
        funcs.push_back(func);
    for (func::FuncOp func : funcs)
      Outliner(func, anchors, minOps, symbols).run();
  }
};

} // namespace
