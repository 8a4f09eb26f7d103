"""openOrder (5) encoder.

ib_async's ``decoder.openOrder`` unpacks this message in sections by tuple-unpacking, so one missing or
extra field silently shifts every later value. The builder below mirrors that decoder section by section;
the conditional fields (deltaNeutralOrderType, scalePriceIncrement, hedgeType, dncPresent, algoStrategy,
PEG BENCH, conditions) are sent empty/zero so that the optional blocks are absent, except algoStrategy whose
parameters we echo and a combo's legs (comboLegsDescrip ``conId|±ratio,…`` and 8 fields per leg, see
``combo.py``). Field counts for a plain LMT order: 120 at 157, 128 at 176, 127 at 178.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .encoders import Fields, contract11, is_bag
from .protocol import UNSET_DOUBLE, Out

if TYPE_CHECKING:
    from .broker import SimOrder


def open_order(o: SimOrder, version: int) -> Fields:
    """Build openOrder for ``o`` at server ``version`` (no version field at ≥ 145)."""
    lmt = o.lmt_price if o.order_type != "MKT" else UNSET_DOUBLE
    f: Fields = [Out.OPEN_ORDER, o.order_id, *contract11(o.spec, exchange="SMART")]
    # action … faPercentage (21 fields; the 18th is the deprecated sharesAllocation)
    f += [
        o.action,
        o.quantity,
        o.order_type,
        lmt,
        o.aux_price,
        o.tif,
        o.oca_group,
        o.account,
        o.open_close,
        o.origin,
        o.order_ref,
        o.client_id,
        o.perm_id,
        o.outside_rth,
        o.hidden,
        0.0,
        "",
        "",
        "",
        "",
        "",
    ]
    if version < 177:
        f.append("")  # faProfile
    # modelCode … deltaNeutralAuxPrice (29 fields)
    f += [
        "",
        o.good_till_date,
        "",
        "",
        "",
        0,
        "",
        "",
        0,
        None,
        None,
        None,
        None,
        None,
        0,
        False,
        False,
        False,
        None,
        3,
        False,
        False,
        None,
        o.parent_id,
        0,
        None,
        0,
        "",
        None,
    ]
    # continuousUpdate, referencePriceType, trailStopPrice, trailingPercent, basisPoints, basisPointsType,
    # comboLegsDescrip
    f += [False, 0, None, None, None, None]
    f += combo_legs(o)
    f += [None, None, None]  # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement (unset)
    f += [""]  # hedgeType
    f += [False, "", "IB", False, False]  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld, dnc
    f += [o.algo_strategy]
    if o.algo_strategy:
        f.append(len(o.algo_params))
        for tag, value in o.algo_params:
            f += [tag, value]
    # solicited, whatIf, orderState (status, 9 margins, commission ×3, currency, warning), randomize ×2
    f += [
        False,
        False,
        o.status,
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        o.commission_or_unset,
        None,
        None,
        "USD" if o.commission_or_unset is not None else "",
        "",
        False,
        False,
    ]
    f += [0]  # numConditions
    # adjustedOrderType … usePriceMgmtAlgo (16 fields)
    f += ["", None, None, None, None, None, None, 0, "", "", "", None, False, False, False, None]
    if version >= 159:
        f.append(None)  # duration
    if version >= 160:
        f.append(None)  # postToAts
    if version >= 162:
        f.append(False)  # autoCancelParent
    if version >= 170:
        f += [None, None, None, None, None]  # minTradeQty … midOffsetAtHalf
    return f


def combo_legs(o: SimOrder) -> Fields:
    """comboLegsDescrip, numLegs + 8 fields per leg, numOrderComboLegs, numSmartComboRoutingParams."""
    if not is_bag(o.spec):
        return ["", 0, 0, 0]
    f: Fields = [o.spec.legs_description(), len(o.spec.legs)]
    for leg in o.spec.legs:
        f += leg.fields()
    return [*f, 0, 0]


def completed_order(o: SimOrder, version: int) -> Fields:
    """Build completedOrder (101) for a filled or cancelled ``o`` (no orderId; ib_async
    ``decoder.completedOrder`` / ibapi ``processCompletedOrderMsg`` layout, mirrored section by section)."""
    lmt = o.lmt_price if o.order_type != "MKT" else UNSET_DOUBLE
    f: Fields = [Out.COMPLETED_ORDER, *contract11(o.spec, exchange="SMART")]
    # action … faPercentage (19 fields)
    f += [o.action, o.quantity, o.order_type, lmt, o.aux_price, o.tif, o.oca_group, o.account, o.open_close]
    f += [o.origin, o.order_ref, o.perm_id, o.outside_rth, o.hidden, 0.0, "", "", "", ""]
    if version < 177:
        f.append("")  # faProfile
    # modelCode … deltaNeutralAuxPrice (23 fields; deltaNeutralOrderType empty: no delta-neutral block)
    f += ["", o.good_till_date, "", "", "", 0, "", "", None, None, None, None, None, 0, False, False, None]
    f += [3, 0, None, None, "", None]
    f += [False, 0, None, None]  # continuousUpdate, referencePriceType, trailStopPrice, trailingPercent
    f += combo_legs(o)  # comboLegsDescrip, legs, numOrderComboLegs, numSmartComboRoutingParams
    f += [None, None, None, ""]  # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement, hedgeType
    f += ["", "IB", False, False]  # clearingAccount, clearingIntent, notHeld, dncPresent
    f += [o.algo_strategy]
    if o.algo_strategy:
        f.append(len(o.algo_params))
        for tag, value in o.algo_params:
            f += [tag, value]
    f += [False, o.status, False, False, 0]  # solicited, status, randomizeSize/Price, numConditions
    done = f"Filled Size: {o.filled:g}" if o.status == "Filled" else "Cancelled by Trader"
    # trailStopPrice, lmtPriceOffset, cashQty, dontUseAutoPriceForHedge, isOmsContainer, autoCancelDate,
    # filledQuantity, refFuturesConId, autoCancelParent, shareholder, imbalanceOnly, routeMarketableToBbo,
    # parentPermId, completedTime, completedStatus
    f += [None, None, None, False, False, "", o.filled, 0, False, "", False, False, None]
    f += [o.completed_time, done]
    if version >= 170:
        f += [None, None, None, None, None]  # minTradeQty … midOffsetAtHalf
    return f
