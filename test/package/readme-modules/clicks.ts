// The user's analytics code, imported by README blocks as './clicks.js'.

/** Clicks recorded by this instance: an in-memory stand-in for an analytics store. */
export const clicks: { clickId: string; url: string }[] = []

export const recordClick = async (click: { clickId: string; url: string }): Promise<void> => {
  clicks.push(click)
}
