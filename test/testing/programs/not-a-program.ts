/** A module whose default export is not a program (the harness must say so). */
export default function notAProgram(): void {
  // empty: what matters is that it was not made by defineProgram
}
