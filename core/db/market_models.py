"""Tables of the financial tools: cached market-data responses and user portfolios.

They live in core (not tools) so that Alembic sees every table through one import; the tools
package reads and writes them through these models only.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db.base import Base, JsonType
from core.db.models import utc_now


class MarketCacheEntry(Base):
    """One response of a live market-data provider, stored so a repeated question costs nothing."""

    __tablename__ = "market_cache"
    __table_args__ = (UniqueConstraint("provider", "kind", "ticker", "request_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(32))  # "yfinance"
    kind: Mapped[str] = mapped_column(String(32))  # "history", "profile", "fundamentals"
    ticker: Mapped[str] = mapped_column(String(32), index=True)
    # What was asked beyond the ticker, e.g. "2024-01-02..2024-01-31"; "" when nothing.
    request_key: Mapped[str] = mapped_column(String(200), default="")
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)


class Portfolio(Base):
    __tablename__ = "portfolios"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    currency: Mapped[str] = mapped_column(String(8), default="USD")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    notes: Mapped[str] = mapped_column(Text, default="")

    transactions: Mapped[list[PortfolioTransaction]] = relationship(
        back_populates="portfolio",
        order_by="(PortfolioTransaction.trade_date, PortfolioTransaction.id)",
        cascade="all, delete-orphan",
    )


class PortfolioTransaction(Base):
    """A buy or a sell; holdings are always derived from the transactions, never stored twice."""

    __tablename__ = "portfolio_transactions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    portfolio_id: Mapped[int] = mapped_column(
        ForeignKey("portfolios.id", ondelete="CASCADE"), index=True
    )
    ticker: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))  # "buy" or "sell"
    quantity: Mapped[float] = mapped_column(Float)
    price: Mapped[float] = mapped_column(Float)
    trade_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)

    portfolio: Mapped[Portfolio] = relationship(back_populates="transactions")
