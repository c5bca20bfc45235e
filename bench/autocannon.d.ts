declare module 'autocannon' {
  interface Options { url: string, connections?: number, duration?: number, pipelining?: number }
  interface Result { requests: { average: number, total: number }, errors: number, non2xx: number }
  export default function autocannon (options: Options): Promise<Result>
}
