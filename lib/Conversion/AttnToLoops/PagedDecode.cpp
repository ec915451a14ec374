//===- PagedDecode.cpp - attn.decode over a paged KV cache ----------------===//
//
// With a block table the caches are page pools [num_pages, Hkv, page_size,
// *] shared by the batch, and position t of row b is slot t % page_size of
// page table[b, t / page_size]. The lowering
//
//   1. checks every row's position against the capacity max_pages *
//      page_size, then every table entry that the row's keys [0, pos + Sn)
//      reach against the pool (a bad one is reported through the runtime's
//      hook and nothing is written or read through it);
//   2. stores each new key/value row into the slot of the page that holds
//      its position;
//   3. runs the flash loop nest with the pools as keys and values: the
//      kernel turns every logical key index into (page, slot) through the
//      table as it reads it (keyAddress in KernelEmitter.h), so no key or
//      value is ever gathered into a contiguous copy and a key tile may
//      cross pages freely.
//
//===----------------------------------------------------------------------===//

#include "PagedDecode.h"

#include "KernelEmitter.h"
#include "attn/Conversion/AttnToLoops/AttnToLoops.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;

namespace {

class PagedDecodeBuilder {
public:
  PagedDecodeBuilder(OpBuilder &b, DecodeOp op, FlashAttention a)
      : e{b, op.getLoc()}, op(op), a(std::move(a)) {}

  void build() {
    OpBuilder &b = e.b;
    batch = e.dim(op.getQuery(), 0);
    count = e.dim(op.getKey(), 2);
    pageSize = e.dim(op.getKeyCache(), 2);
    numPages = e.dim(op.getKeyCache(), 0);
    capacity = e.mul(e.dim(op.getBlockTable(), 1), pageSize);

    // The first row whose position does not fit (-1: none), the largest end.
    auto scan = scf::ForOp::create(b, e.loc, e.idx(0), batch, e.idx(1),
                                   ValueRange{e.idx(-1), e.idx(0)});
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(scan.getBody());
      Value row = scan.getInductionVar();
      Value p = positionOf(row);
      Value end = e.add(p, count);
      Value bad = arith::OrIOp::create(
          b, e.loc, e.cmp(arith::CmpIPredicate::slt, p, e.idx(0)),
          e.cmp(arith::CmpIPredicate::sgt, end, capacity));
      Value first = scan.getRegionIterArgs()[0];
      scf::YieldOp::create(
          b, e.loc,
          ValueRange{firstOf(bad, row, first),
                     e.max(scan.getRegionIterArgs()[1], end)});
    }
    Value badRow = scan.getResult(0);
    Value positionsFit = e.cmp(arith::CmpIPredicate::slt, badRow, e.idx(0));
    auto fits = scf::IfOp::create(b, e.loc, positionsFit, true);
    b.setInsertionPointToStart(&fits.getElseRegion().front());
    Value badPosition = memref::LoadOp::create(b, e.loc, op.getPositions(),
                                               badRow);
    report(argumentBuffer(op.getPositions()), badRow, badPosition, count,
           capacity);

    b.setInsertionPointToStart(&fits.getThenRegion().front());
    auto [tableRow, tableColumn] = scanTable();
    Value tableFits = e.cmp(arith::CmpIPredicate::slt, tableRow, e.idx(0));
    auto valid = scf::IfOp::create(b, e.loc, tableFits, true);
    // A bad page index: the hook's new-entry count is -(column + 1) and its
    // capacity the pool's page count (see attn_rt_report_position_error).
    b.setInsertionPointToStart(&valid.getElseRegion().front());
    Value entry = memref::LoadOp::create(b, e.loc, op.getBlockTable(),
                                         ValueRange{tableRow, tableColumn});
    report(argumentBuffer(op.getBlockTable()), tableRow, entry,
           e.sub(e.idx(-1), tableColumn), numPages);

    b.setInsertionPointToStart(&valid.getThenRegion().front());
    a.blockTable = op.getBlockTable();
    a.pageSize = pageSize;
    append(op.getKey(), op.getKeyCache());
    append(op.getValue(), op.getValueCache());
    a.key = op.getKeyCache();
    a.value = op.getValueCache();
    a.keyEnd = scan.getResult(1);
    a.causal = op.getCausal();
    a.treeMask = op.getTreeMask();
    // Query row i of batch row b stands at pos[b] + Sn - Sq + i.
    a.rowPositions = op.getPositions();
    a.newKeys = count;
    buildFlashAttention(b, e.loc, a);
  }

private:
  Value toIndex(Value v) {
    return arith::IndexCastOp::create(e.b, e.loc, e.b.getIndexType(), v);
  }
  Value positionOf(Value row) {
    return toIndex(memref::LoadOp::create(e.b, e.loc, op.getPositions(), row));
  }
  /// `candidate` if `bad` and no earlier one was found (`first` < 0).
  Value firstOf(Value bad, Value candidate, Value first) {
    Value isFirst = arith::AndIOp::create(
        e.b, e.loc, bad, e.cmp(arith::CmpIPredicate::slt, first, e.idx(0)));
    return e.select(isFirst, candidate, first);
  }

  /// The first (row, column) of the table, rows in order, whose entry is
  /// outside [0, num_pages) among the pages [0, ceil((pos + Sn) /
  /// page_size)) of its row; row -1 when every such entry is a page.
  std::pair<Value, Value> scanTable() {
    OpBuilder &b = e.b;
    auto rows = scf::ForOp::create(b, e.loc, e.idx(0), batch, e.idx(1),
                                   ValueRange{e.idx(-1), e.idx(0)});
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(rows.getBody());
    Value row = rows.getInductionVar();
    Value used = e.ceilDiv(e.add(positionOf(row), count), pageSize);
    auto columns = scf::ForOp::create(b, e.loc, e.idx(0), used, e.idx(1),
                                      rows.getRegionIterArgs());
    {
      OpBuilder::InsertionGuard inner(b);
      b.setInsertionPointToStart(columns.getBody());
      Value column = columns.getInductionVar();
      Value page = toIndex(memref::LoadOp::create(
          b, e.loc, op.getBlockTable(), ValueRange{row, column}));
      Value bad = arith::OrIOp::create(
          b, e.loc, e.cmp(arith::CmpIPredicate::slt, page, e.idx(0)),
          e.cmp(arith::CmpIPredicate::sge, page, numPages));
      Value firstRow = columns.getRegionIterArgs()[0];
      Value isFirst = arith::AndIOp::create(
          b, e.loc, bad,
          e.cmp(arith::CmpIPredicate::slt, firstRow, e.idx(0)));
      scf::YieldOp::create(
          b, e.loc,
          ValueRange{e.select(isFirst, row, firstRow),
                     e.select(isFirst, column,
                              columns.getRegionIterArgs()[1])});
    }
    scf::YieldOp::create(b, e.loc, columns.getResults());
    return {rows.getResult(0), rows.getResult(1)};
  }

  /// pool[page, h, slot, :] = fresh[b, h, t, :] where (page, slot) holds
  /// position pos[b] + t: element by element, Sn * Hkv rows per batch row.
  void append(Value fresh, Value pool) {
    Value heads = e.dim(fresh, 1), width = e.dim(fresh, 3);
    e.loop(e.idx(0), batch, e.idx(1), [&](Value row) {
      Value p = positionOf(row);
      e.loop(e.idx(0), count, e.idx(1), [&](Value t) {
        auto [page, slot] = keyAddress(e, a, row, e.add(p, t));
        e.loop(e.idx(0), heads, e.idx(1), [&](Value h) {
          e.loop(e.idx(0), width, e.idx(1), [&](Value d) {
            Value x = memref::LoadOp::create(e.b, e.loc, fresh,
                                             ValueRange{row, h, t, d});
            // A pool of another float type (an f16 pool under f32 queries)
            // stores the rounded value.
            Type element = getElementTypeOrSelf(pool.getType());
            if (x.getType() != element)
              x = truncateFromF32(e.b, e.loc, extendToF32(e.b, e.loc, x),
                                  element);
            memref::StoreOp::create(e.b, e.loc, x, pool,
                                    ValueRange{page, h, slot, d});
          });
        });
      });
    });
  }

  /// NaN output, and a call of the runtime's hook (when declared) with the
  /// buffer, the row and the offending value.
  void report(int64_t buffer, Value row, Value value, Value entries,
              Value limit) {
    reportDecodeError(e.b, op, buffer, row, value, entries, limit);
  }

  Emitter e;
  DecodeOp op;
  FlashAttention a;
  Value batch, count, pageSize, numPages, capacity;
};

} // namespace

void mlir::attn::buildPagedDecode(OpBuilder &b, DecodeOp op,
                                  FlashAttention common) {
  PagedDecodeBuilder(b, op, std::move(common)).build();
}
