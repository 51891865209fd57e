import { main } from '../examples/basic';

describe('the README example', () => {
  it('runs and prints a probability row', () => {
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    const row = main();
    log.mockRestore();
    expect(row).toHaveLength(768);
    expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    expect(Math.max(...row)).toBeLessThan(1);
  });
});
